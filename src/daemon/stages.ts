/**
 * The production stage factories for `motobio run`. Each stage module is loaded lazily
 * (`await import()`) so a unit without Bluetooth never loads noble, and a unit without a
 * model never loads onnxruntime.
 *
 * TODO(issue 6 integration): the lead wires the stages written in parallel here:
 *   source    replay (source.path/record/channel/speed), serial (device, baud), ble (device)
 *             from src/sources; `pkg:` paths resolve with resolvePath(p, ctx.cwd)
 *   chain     new EcgChain({ fs }) from src/signal (its push/pushRr/features match SignalChain)
 *   decisions the ONNX policy plus safety rules from src/inference (inference.model_dir, .rules)
 *   outbox    the SQLite outbox from src/store (store.path, store.disk_budget_mb; mode 0600
 *             files in a 0700 directory)
 *   uplink    the MQTT uplink from src/uplink (uplink.links, topic_prefix, device.id)
 *   calibration: loadCalibration(resolvePath(ctx.config.calibration_dir, ctx.cwd), sensorId)
 *             and applicableCalibration() (./calibration.ts) give the source's gain, polarity
 *             and sample rate once the sensor id is known.
 * A stage left out here runs as "not wired" (the daemon logs it once and carries on).
 */
import type { StageFactories } from './context.js';

export function productionStages(): StageFactories {
  return {};
}

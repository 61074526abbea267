/**
 * The production stages of `motobio run`: each comes from its own stage folder, which loads
 * its heavy modules only when opened (a unit without Bluetooth never loads noble, one without
 * a model never loads onnxruntime).
 */
import { sensorCalibration } from '../calibration/in-force.js';
import { openDecisions } from '../inference/stage.js';
import { openChain } from '../signal/stage.js';
import { openSource } from '../sources/stage.js';
import { openStore } from '../store/stage.js';
import { openUpdates } from '../update/stage.js';
import { openUplink } from '../uplink/stage.js';
import { createRideContextSource } from '../context/factory.js';
import { createCueStage } from '../cues/wiring.js';
import { openRider } from '../rider/stage.js';
import type { StageFactories } from './context.js';

export function productionStages(): StageFactories {
  return {
    source: openSource,
    // A replayed record is played as it was recorded (the figures of `motobio eval` hold for it).
    chain: (ctx, fs) => openChain(fs, fs === undefined ? undefined : sensorCalibration(ctx), ctx.config.source.kind === 'replay' ? undefined : ctx.config.signal.powerline_hz),
    decisions: openDecisions,
    outbox: openStore,
    uplink: openUplink,
    updates: openUpdates,
    rideContext: (ctx) => createRideContextSource(ctx.config.context, { logger: ctx.log }),
    rider: openRider,
    cues: createCueStage,
  };
}

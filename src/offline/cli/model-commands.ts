/**
 * `motobio model import`, `motobio model validate` for an imported SB3 policy, and
 * `motobio model evaluate`: the handlers src/cli/commands/model.ts dispatches to.
 */
import { numberOption, parseCommandArgs } from '../../cli/args.js';
import { MotobioError } from '../../util/errors.js';

export const SB3_USAGE = `  motobio model import MODEL.zip [--vecnormalize FILE.pkl] --out DIR [--name NAME] [--map MAP.json] [--no-vecnormalize] [--json]
      A Stable-Baselines3 PPO/A2C MlpPolicy checkpoint (model.save() zip) to DIR/NAME.fp32.onnx
      (raw observations in; VecNormalize, clipping and squashing inside the graph; outputs action,
      logits|mean, value), DIR/NAME.int8.onnx, DIR/NAME.validation.ndjson and DIR/NAME.manifest.json.
      The manifest keeps fp32 for the unit, with the reason, when int8 misses its targets.
      --map MAP.json: observation -> unit feature and action -> cue (docs/inference.md); without
      it the model is generic and the daemon will not coach with it.
  motobio model validate --model DIR [--reference FILE.json] [--samples N] [--json]
      For an imported model: hashes, fp32 vs the PyTorch reference (<= 1e-5), int8 vs fp32
      (Discrete: >= 99% equal actions; Box: p99 action difference <= 2% of the range), latency.
  motobio model evaluate --model DIR [--against DIR] [--period S] [--json] RECORD...
      Replays WFDB recordings through the signal chain, the policy and the safety rules: action
      distribution, cues per hour, rule overrides, and where two models differ.
`;

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('model import', argv, {
    vecnormalize: { type: 'string' },
    'no-vecnormalize': { type: 'boolean' },
    out: { type: 'string' },
    name: { type: 'string' },
    map: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(SB3_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new MotobioError('USAGE', `model import: give exactly one MODEL.zip (got ${positionals.length}); motobio model import MODEL.zip --out DIR`);
  if (!values.out) throw new MotobioError('USAGE', 'model import: --out DIR is required');
  const { importSb3 } = await import('../sb3/import.js');
  const r = await importSb3({
    checkpoint: positionals[0],
    outDir: values.out,
    ...(values.vecnormalize ? { vecNormalize: values.vecnormalize } : {}),
    ...(values['no-vecnormalize'] ? { allowMissingVecNormalize: true } : {}),
    ...(values.name ? { name: values.name } : {}),
    ...(values.map ? { map: values.map } : {}),
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  const s = r.sb3;
  process.stdout.write(
    [
      `imported ${s.checkpoint.file} (SB3 ${s.sb3Version} ${s.algorithm}, sha256 ${s.checkpoint.sha256.slice(0, 16)}...) in ${s.importMs.toFixed(0)} ms`,
      `  policy: ${s.policy.activation}, net_arch ${JSON.stringify(s.policy.netArch)}${s.policy.useSde ? ', gSDE (action = mean)' : ''}${s.policy.squashOutput ? ', squash_output' : ''}${s.vecNormalize ? `, VecNormalize (clip ${s.vecNormalize.clipObs}) in the graph` : ''}`,
      `  fp32 ${r.fp32Path} (${r.fp32Bytes} bytes)`,
      `  int8 ${r.int8Path} (${r.int8Bytes} bytes)`,
      `  unit runs ${s.precision.chosen}: ${s.precision.reason}`,
      `  coaching: ${s.coaching ? `map ${s.coaching.map}` : 'none (generic model: the daemon will not coach with it; import with --map MAP.json)'}`,
      ...r.notes.map((n) => `  ${n}`),
      `  manifest ${r.manifestPath}`,
      '',
    ].join('\n'),
  );
  return 0;
}

export async function validateImported(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('model validate', argv, {
    model: { type: 'string' },
    reference: { type: 'string' },
    samples: { type: 'string' },
    json: { type: 'boolean' },
  }, false);
  if (!values.model) throw new MotobioError('USAGE', 'model validate: --model DIR is required');
  const samples = numberOption('model validate', 'samples', values.samples, 1000);
  const { validateSb3 } = await import('../sb3/validate-sb3.js');
  const report = await validateSb3(values.model, { ...(values.reference ? { reference: values.reference } : {}), samples });
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    process.stdout.write(`model ${report.manifestPath}\n`);
    for (const c of report.checks) process.stdout.write(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(18)} ${c.detail}\n`);
    process.stdout.write(report.ok ? 'model is valid\n' : 'model is NOT valid: fix the FAIL lines above\n');
  }
  return report.ok ? 0 : 1;
}

export async function evaluateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('model evaluate', argv, {
    model: { type: 'string' },
    against: { type: 'string' },
    period: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(SB3_USAGE);
    return 0;
  }
  if (!values.model) throw new MotobioError('USAGE', 'model evaluate: --model DIR is required');
  const periodS = numberOption('model evaluate', 'period', values.period, 5);
  if (!Number.isInteger(periodS) || periodS < 1) throw new MotobioError('USAGE', `model evaluate: --period must be a whole number of seconds, got ${periodS}`);
  const { evaluateModels, formatEvaluation } = await import('../model-eval/evaluate.js');
  const report = await evaluateModels({ model: values.model, ...(values.against ? { against: values.against } : {}), records: positionals, periodS });
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatEvaluation(report));
  return report.a.model ? 0 : 1;
}

/**
 * `motobio model validate --model PATH` and `motobio model quantize --in A --out B`: the
 * deployment checklist's validate_model and export_to_edge --quantization int8.
 */
import { parseCommandArgs, numberOption } from '../args.js';
import { MotobioError } from '../../util/errors.js';
import { SB3_USAGE, evaluateCommand, importCommand, validateImported } from '../../offline/cli/model-commands.js';

export const summary = 'validate a policy model (hash, shapes, int8, agreement, latency) or quantize one to int8';

const USAGE = `usage:
  motobio model validate --model PATH [--samples N] [--json]
      PATH: a model manifest (.json), its .onnx file or the folder holding them.
      Checks manifest, SHA-256, input/output names and shapes, opset, ops, int8 present,
      fp32-vs-int8 action agreement on the validation set (>= 99%), latency p50/p99.
      Exit 0 when every check passes, 1 otherwise.
  motobio model quantize --in model.onnx --out model.int8.onnx [--calibration rows.ndjson] [--static] [--full-range]
      int8 for every Gemm/MatMul: per-channel int8 weights and uint8 activations, quantized
      at run time (dynamic, default) or with fixed scales from the calibration rows (--static,
      QDQ form). Reports the size change and the fp32-vs-int8 agreement on the calibration rows
      ({"obs": [...]} per line; 2000 standard-normal rows when none are given).
      --full-range: ±127 weights (default ±63, which x86 AVX2 kernels need; see docs/inference.md).
${SB3_USAGE}`;

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'validate') return validate(rest);
  if (sub === 'quantize') return quantize(rest);
  if (sub === 'import') return importCommand(rest);
  if (sub === 'evaluate') return evaluateCommand(rest);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  throw new MotobioError('USAGE', `model: unknown subcommand "${sub}"; use "validate", "quantize", "import" or "evaluate" (motobio model --help)`);
}

async function validate(argv: string[]): Promise<number> {
  // An imported SB3 policy has its own checks (fp32 vs a PyTorch reference, Box actions).
  const { isImportedSb3 } = await import('../../offline/sb3/validate-sb3.js');
  const at = argv.indexOf('--model');
  if (argv.includes('--reference') || (at >= 0 && argv[at + 1] !== undefined && isImportedSb3(argv[at + 1]))) return validateImported(argv);
  const { values } = parseCommandArgs('model validate', argv, {
    model: { type: 'string' },
    samples: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.model) throw new MotobioError('USAGE', 'model validate: --model PATH is required (e.g. --model models/default-policy.manifest.json)');
  const samples = numberOption('model validate', 'samples', values.samples, 1000);
  if (!Number.isInteger(samples) || samples < 1) throw new MotobioError('USAGE', `model validate: --samples must be a positive integer, got ${samples}`);
  const { validateModel } = await import('../../inference/validate.js');
  const report = await validateModel(values.model, { samples });
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    process.stdout.write(`model ${report.manifestPath}\n`);
    for (const c of report.checks) process.stdout.write(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(15)} ${c.detail}\n`);
    process.stdout.write(report.ok ? 'model is valid\n' : 'model is NOT valid: fix the FAIL lines above\n');
  }
  return report.ok ? 0 : 1;
}

/** An imported SB3 graph: raw-observation rows, and agreement judged on actions (src/offline/sb3/import.ts). */
async function quantizeImported(fp32: Uint8Array, inPath: string, outPath: string, calibration: string | undefined): Promise<number> {
  if (!calibration) throw new MotobioError('USAGE', `model quantize: ${inPath} is an imported SB3 policy, which takes raw observations: pass --calibration NAME.validation.ndjson (written by "motobio model import")`);
  const { writeFileSync } = await import('node:fs');
  const { readDataset } = await import('../../inference/agreement.js');
  const { quantizeImportedGraph, describeAgreement } = await import('../../offline/sb3/import.js');
  const rows = readDataset(calibration).map((r) => r.obs);
  const { chosen } = await quantizeImportedGraph(fp32, rows, inPath);
  for (const t of chosen.tried) process.stdout.write(`tried ${t}\n`);
  writeFileSync(outPath, chosen.bytes, { mode: 0o600 });
  process.stdout.write(`wrote ${outPath} (${chosen.method}, ${chosen.bytes.length} bytes): ${describeAgreement(chosen.agreement)}\n`);
  if (!chosen.agreement.ok) process.stdout.write('WARNING: int8 cannot reach the action target for this network; keep the fp32 model for the unit (motobio model import does so in the manifest, with the reason)\n');
  return chosen.agreement.ok ? 0 : 1;
}

async function quantize(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('model quantize', argv, {
    in: { type: 'string' },
    out: { type: 'string' },
    calibration: { type: 'string' },
    'full-range': { type: 'boolean' },
    static: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.static && !values.calibration) throw new MotobioError('USAGE', 'model quantize: --static needs --calibration rows.ndjson to fix the activation scales');
  if (!values.in || !values.out) throw new MotobioError('USAGE', 'model quantize: --in model.onnx and --out model.int8.onnx are both required');
  const { readFileSync, writeFileSync, existsSync } = await import('node:fs');
  if (!existsSync(values.in)) throw new MotobioError('USAGE', `model quantize: ${values.in}: no such file`);
  const { decodeModel, encodeModel } = await import('../../inference/onnx/model.js');
  const { quantizeDynamic } = await import('../../offline/quantize/quantize.js');
  const { agreement, readDataset, syntheticRows } = await import('../../inference/agreement.js');
  const { sha256 } = await import('../../inference/manifest.js');
  const fp32 = readFileSync(values.in);
  const decoded = decodeModel(fp32, values.in);
  if (decoded.producerName === 'motobio-edge sb3 import') return quantizeImported(fp32, values.in, values.out, values.calibration);
  const input = decoded.graph.inputs.find((i) => !decoded.graph.initializers.some((t) => t.name === i.name));
  const width = input?.shape?.[1];
  if (typeof width !== 'number') throw new MotobioError('MODEL_INVALID', `${values.in}: the input has no fixed feature width (shape ${JSON.stringify(input?.shape)}); export with a [batch, F] input`);
  const rows = values.calibration ? readDataset(values.calibration, width).map((r) => r.obs) : syntheticRows(2000, width);
  const options = { reduceRange: !values['full-range'] };
  let quantized: ReturnType<typeof quantizeDynamic>;
  if (values.static) {
    const { calibrate, quantizeStatic } = await import('../../offline/quantize/quantize-static.js');
    quantized = quantizeStatic(decoded, await calibrate(decoded, rows), options);
  } else {
    quantized = quantizeDynamic(decoded, options);
  }
  const { model, report } = quantized;
  const int8 = encodeModel(model);
  const agree = await agreement(fp32, int8, rows);
  writeFileSync(values.out, int8, { mode: 0o600 });
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  process.stdout.write(
    [
      `quantized ${report.quantized.length} node(s) (${values.static ? 'static QDQ' : 'dynamic'}): ${report.quantized.join(', ')}`,
      ...report.skipped.map((s) => `left float: ${s.node} (${s.why})`),
      `size ${fp32.length} -> ${int8.length} bytes (${pct(int8.length / fp32.length)} of fp32)`,
      `agreement fp32 vs int8: ${agree.agree}/${agree.rows} = ${pct(agree.share)} same action on ${values.calibration ? values.calibration : 'synthetic standard-normal rows'}; max probability difference ${agree.maxAbsProbDiff.toFixed(4)}`,
      `wrote ${values.out} sha256 ${sha256(int8)}`,
      agree.share >= 0.99 ? 'ok' : 'WARNING: agreement below 99%; "motobio model validate" will refuse this model',
      '',
    ].join('\n'),
  );
  return agree.share >= 0.99 ? 0 : 1;
}

/**
 * `motobio pair hc05 ADDRESS [--pin 1234]`: pairs, trusts and binds an HC-05 ECG front end
 * and checks the udev link and the boot unit (src/pairing/hc05.ts, docs/hc05.md). Prints each
 * step as it ends; a failed step is named with what is wrong and its fix.
 * Exit status: 0 every step done, 1 a step failed, 2 usage (including a malformed address or PIN).
 */
import { EX_USAGE } from '../args.js';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { numberOption, parseCommandArgs } from '../args.js';
import { cliLang, messages, render, type Catalogue } from '../../i18n/index.js';
import { MotobioError } from '../../util/errors.js';
import type { PairOutcome, StepReport } from '../../pairing/hc05.js';

export const summary = 'pair an HC-05 (Bluetooth classic serial) module: PIN, trust, rfcomm bind, stable /dev/rfcomm-motobio';

const USAGE = `usage: motobio pair hc05 ADDRESS [--pin PIN] [--rfcomm N] [--scan-seconds S] [--json] [--lang es|en]
  ADDRESS         the module's Bluetooth address, e.g. 98:D3:31:F5:9A:2C
  --pin           its PIN (default 1234; some clones use 0000)
  --rfcomm        the rfcomm index to bind (default 0, as in the shipped udev rule and unit)
  --scan-seconds  how long to look for the module when BlueZ does not know it yet (default 20)
Runs as root. Steps: bluetoothd, adapter, scan, PIN agent (bt-agent), pair, trust, rfcomm bind,
udev link /dev/rfcomm-motobio, motobio-rfcomm.service. docs/hc05.md tells the whole path.
exit status 0 paired and bound, 1 a step failed (named, with its fix), 64 usage error (EX_USAGE)
`;

/** Where this package ships systemd/ (the fixes name the files to install from there). */
function shippedDir(): string {
  return join(fileURLToPath(new URL('../../../../', import.meta.url)), 'systemd');
}

export function formatStep(r: StepReport, m: Catalogue): string {
  const name = render(m, `pair.step.${r.step}`);
  if (r.status !== 'failed') return `  [${r.status === 'ok' ? m['pair.ok'] : m['pair.skipped']}] ${name}\n`;
  const params = r.params ?? {};
  return `  [${m['pair.failed']}] ${name}: ${render(m, `pair.problem.${r.problem}`, params)}\n    ${m['pair.fix']}: ${render(m, `pair.fix.${r.problem}`, params)}\n`;
}

export function formatOutcome(o: PairOutcome, m: Catalogue): string {
  if (o.ok) return m['pair.done']({ address: o.address, device: o.device }) + '\n';
  return `${m['pair.stopped']({ step: render(m, `pair.step.${o.failed?.step ?? 'address'}`) })}\n`;
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('pair hc05', argv, {
    pin: { type: 'string' },
    rfcomm: { type: 'string' },
    'scan-seconds': { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [address, ...extra] = positionals;
  if (address === undefined || extra.length > 0) throw new MotobioError('USAGE', `pair hc05: give one address, e.g. "motobio pair hc05 98:D3:31:F5:9A:2C"; run "motobio pair hc05 --help"`);
  const rfcomm = numberOption('pair hc05', 'rfcomm', values.rfcomm, 0);
  if (!Number.isInteger(rfcomm) || rfcomm < 0 || rfcomm > 30) throw new MotobioError('USAGE', `pair hc05: --rfcomm must be an index from 0 to 30, got "${values.rfcomm}"`);
  const scanSeconds = numberOption('pair hc05', 'scan-seconds', values['scan-seconds'], 20);
  if (!(scanSeconds >= 1 && scanSeconds <= 120)) throw new MotobioError('USAGE', `pair hc05: --scan-seconds must be between 1 and 120, got "${values['scan-seconds']}"`);
  const m = messages(cliLang());
  const { pairHc05 } = await import('../../pairing/hc05.js');
  const { systemRunner } = await import('../../pairing/runner.js');
  const env = process.env;
  const outcome = await pairHc05(
    {
      address,
      ...(values.pin !== undefined ? { pin: values.pin } : {}),
      rfcomm,
      scanSeconds,
      shippedDir: shippedDir(),
      // Test seams: where the rule, the link, the tty and the unit's address file live.
      ...(env['MOTOBIO_PAIR_UDEV_RULE'] ? { udevRuleFile: env['MOTOBIO_PAIR_UDEV_RULE'] } : {}),
      ...(env['MOTOBIO_PAIR_LINK'] ? { link: env['MOTOBIO_PAIR_LINK'] } : {}),
      ...(env['MOTOBIO_PAIR_DEV_DIR'] ? { devDir: env['MOTOBIO_PAIR_DEV_DIR'] } : {}),
      ...(env['MOTOBIO_PAIR_ENV_FILE'] ? { envFile: env['MOTOBIO_PAIR_ENV_FILE'] } : {}),
      ...(env['MOTOBIO_PAIR_AGENT_GRACE_MS'] ? { agentGraceMs: Number(env['MOTOBIO_PAIR_AGENT_GRACE_MS']) } : {}),
      onStep: (r) => {
        if (!values.json) process.stdout.write(formatStep(r, m));
      },
    },
    systemRunner(env),
  );
  if (values.json) process.stdout.write(`${JSON.stringify(outcome)}\n`);
  else process.stdout.write(formatOutcome(outcome, m));
  if (outcome.ok) return 0;
  return outcome.failed?.step === 'address' ? EX_USAGE : 1;
}

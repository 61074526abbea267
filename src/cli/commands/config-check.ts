/**
 * `motobio config check [FILE] [--print] [--json]`: validates a configuration the way the
 * daemon will load it (file, environment overrides, schema, referenced files).
 * Exit codes: 0 valid, 78 invalid (EX_CONFIG, the same code `motobio run` exits with),
 * 64 usage error (EX_USAGE).
 */
import { stringify } from 'yaml';
import { MotobioError, isMotobioError } from '../../util/errors.js';
import { configFileArgument } from '../config-file-arg.js';
import { parseCommandArgs } from '../args.js';
import { ConfigError, EXIT_CONFIG, loadConfig, redactConfig } from '../../config/load.js';

export const summary = 'validate a configuration file (exit 0 valid, 78 invalid)';

const HELP = `usage: motobio config check [FILE] [--print] [--json]

Validates FILE (default: $MOTOBIO_CONFIG, else /etc/motobio/config.yaml, else the embedded
defaults) with the MOTOBIO_* environment overrides applied, as "motobio run" would.
  --print   print the effective configuration (secrets redacted) as YAML
  --json    print {"ok", "file", "issues", "config"} as JSON
Exit status: 0 valid, 78 invalid, 64 usage error.
`;

export function run(argv: string[]): Promise<number> {
  return Promise.resolve().then(() => check(argv));
}

function check(argv: string[]): number {
  const { values, positionals } = parseCommandArgs('config check', argv, {
    print: { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 1) {
    throw new MotobioError('USAGE', `config check: one FILE at most, got ${positionals.length} (${positionals.join(' ')}); run "motobio config check --help"`);
  }
  const file = configFileArgument('config check', positionals[0]);
  try {
    const loaded = loadConfig({ file, checkFiles: true });
    const source = loaded.file ?? 'embedded defaults';
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ ok: true, file: loaded.file ?? null, env: loaded.envVariables, issues: [], config: redactConfig(loaded.config) })}\n`);
    } else {
      const env = loaded.envVariables.length > 0 ? ` with ${loaded.envVariables.join(', ')} from the environment` : '';
      process.stdout.write(`configuration OK: ${source}${env}\n`);
      if (values.print) process.stdout.write(stringify(redactConfig(loaded.config)));
    }
    return 0;
  } catch (e) {
    if (!isMotobioError(e, 'CONFIG_INVALID')) throw e;
    if (values.json) {
      const issues = e instanceof ConfigError ? e.issues : [{ path: '', message: e.message }];
      process.stdout.write(`${JSON.stringify({ ok: false, issues })}\n`);
    } else {
      process.stderr.write(`motobio: ${e.message}\n`);
    }
    return EXIT_CONFIG;
  }
}

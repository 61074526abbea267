/**
 * A configuration FILE given on the command line. A directory there is the technician's slip
 * (`motobio config check /etc/motobio`), not a permissions problem: say so, and name the
 * YAML files in it that could be meant.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MotobioError } from '../util/errors.js';

export function configFileArgument(command: string, file: string | undefined, option = 'FILE'): string | undefined {
  if (file === undefined) return undefined;
  let isDir = false;
  try {
    isDir = statSync(file).isDirectory();
  } catch {
    // Missing or unreadable: loadConfig says which, with its own advice.
  }
  if (!isDir) return file;
  let yaml: string[] = [];
  try {
    yaml = readdirSync(file).filter((f) => /\.ya?ml$/.test(f)).sort();
  } catch {
    // An unreadable directory: the example below still shows the form.
  }
  const example = join(file, yaml.includes('config.yaml') ? 'config.yaml' : (yaml[0] ?? 'config.yaml'));
  const found = yaml.length > 0 ? ` (it holds ${yaml.join(', ')})` : '';
  throw new MotobioError('USAGE', `${command}: ${option} ${file} is a directory${found}; pass the configuration file itself, e.g. motobio ${command} ${example}`);
}

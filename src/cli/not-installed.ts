/**
 * Commands a checkout has and the unit's release does not: the unit's tarball carries only what
 * the unit runs (.ci/package/build.sh leaves out src/offline/, src/fleet/ and these command
 * modules, and checks that nothing it ships imports them). On the unit `motobio eval` then says
 * where the command lives instead of "unknown command".
 */
import { MotobioError } from '../util/errors.js';

/**
 * First word of the command line -> where it runs and the command module whose presence says
 * this tree has it (in a checkout a mistyped `motobio fleet x` stays an unknown command).
 * Keep in step with build.sh's exclude list.
 */
export const ELSEWHERE: Readonly<Record<string, { where: 'workstation' | 'fleet-server'; module: string }>> = {
  eval: { where: 'workstation', module: 'eval' },
  bench: { where: 'workstation', module: 'bench' },
  detect: { where: 'workstation', module: 'detect' },
  model: { where: 'workstation', module: 'model' },
  fleet: { where: 'fleet-server', module: 'fleet-ingest' },
};

/**
 * The error for a known command whose module is not installed here, or undefined when the
 * command is not one of them or is installed. `installed(name)`: commands/NAME.js exists.
 */
export function notInstalled(argv: readonly string[], installed: (module: string) => boolean): MotobioError | undefined {
  const first = argv[0];
  if (first === undefined || !Object.hasOwn(ELSEWHERE, first) || installed(ELSEWHERE[first].module)) return undefined;
  const second = argv[1];
  const name = second !== undefined && /^[a-z][a-z0-9-]*$/.test(second) ? `${first} ${second}` : first;
  const where = ELSEWHERE[first].where === 'fleet-server' ? 'a fleet-server tool' : 'a workstation tool';
  return new MotobioError('USAGE', `\`motobio ${name}\` is ${where}; it is not in the unit's package: run it from a checkout of motobio-edge (npm ci && npm run build, then node dist/src/cli/main.js ${name} ...)`);
}

/**
 * An SB3 model zip (`model.save()`): `data` (JSON), `policy.pth` (state dict),
 * `_stable_baselines3_version`; `pytorch_variables.pth` and the optimizer are not needed
 * for a deterministic policy and are never inflated.
 *
 *   MODEL.zip ─▶ data ─▶ JSON ─┐
 *             ─▶ policy.pth ─▶ state dict ─┴─▶ readPolicySpec ─▶ PolicySpec
 */
import { MotobioError, errorMessage } from '../../util/errors.js';
import { readPolicySpec, type PolicySpec } from './policy-spec.js';
import { readStateDict } from './state-dict.js';
import { readZip } from './zip.js';

const WANTED = new Set(['data', 'policy.pth', '_stable_baselines3_version']);

export function readCheckpoint(bytes: Uint8Array, what: string): PolicySpec {
  const files = readZip(bytes, what, (n) => WANTED.has(n));
  const missing = [...WANTED].filter((n) => n !== '_stable_baselines3_version' && !files.has(n));
  if (missing.length) {
    throw new MotobioError('MODEL_INVALID', `${what}: no ${missing.join(' or ')} in the zip; an SB3 model.save() file holds data, policy.pth and _stable_baselines3_version`);
  }
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(files.get('data')));
  } catch (e) {
    throw new MotobioError('MODEL_INVALID', `${what}: "data" is not JSON (${errorMessage(e)}); the checkpoint is corrupt`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new MotobioError('MODEL_INVALID', `${what}: "data" is not a JSON object`);
  const versionBytes = files.get('_stable_baselines3_version');
  const sb3Version = versionBytes ? new TextDecoder().decode(versionBytes).trim().slice(0, 40) : 'unknown';
  const sd = readStateDict(files.get('policy.pth')!, `${what}:policy.pth`);
  return readPolicySpec(data as Record<string, unknown>, sb3Version, sd, what);
}

/**
 * Hostile and broken inputs: every one refused with a MotobioError that names the problem,
 * never executed, never a crash. Fuzzing with fast-check over the real CartPole checkpoint.
 */
import fc from 'fast-check';
import { strToU8 } from 'fflate';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/offline/sb3/checkpoint.js';
import { unpickle } from '../../src/offline/sb3/pickle.js';
import { readStateDict, torchGlobals } from '../../src/offline/sb3/state-dict.js';
import { readVecNormalize } from '../../src/offline/sb3/vecnormalize.js';
import { isMotobioError } from '../../src/util/errors.js';
import { PickleWriter, SHARED, buildCheckpoint, classPickle, repack, sharedZip, torchZip, type ArchSpec } from './sb3-fixtures.js';

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!isMotobioError(e, 'MODEL_INVALID')) throw new Error(`expected a MODEL_INVALID MotobioError, got ${String(e)}`);
    return e.message;
  }
  throw new Error('expected a refusal, the input was accepted');
}

/** A pickle that would run os.system('touch /tmp/pwned') in Python. */
function systemCall(module: string, name: string, stackGlobal: boolean): Uint8Array {
  const w = new PickleWriter().proto(stackGlobal ? 4 : 2);
  if (stackGlobal) w.str(module).str(name).op(0x93);
  else w.global(module, name);
  return w.str('touch /tmp/pwned').op(0x85).op(0x52).finish();
}

const cartpole = sharedZip('CartPole-v1');
const arch: ArchSpec = { obsDim: 4, shared: [], pi: [16, 16], vf: [16, 16], activation: 'Tanh', action: { kind: 'discrete', n: 2 }, netArchStyle: 'v1', sb3Version: '1.6.0', seed: 3 };

describe('the restricted pickle reader', () => {
  it.each([
    ['os', 'system', false],
    ['posix', 'system', true],
    ['builtins', 'eval', false],
    ['subprocess', 'Popen', true],
    ['torch', 'load', false],
  ] as const)('refuses a pickle calling %s.%s, naming the global', (module, name, stackGlobal) => {
    const msg = refusal(() => unpickle(systemCall(module, name, stackGlobal), { what: 'evil.pkl', globals: torchGlobals() }));
    expect(msg).toContain(`"${module}.${name}"`);
    expect(msg).toMatch(/not on the allow-list/);
  });

  it('refuses calling an allowed global that may only be referred to (a storage type)', () => {
    const msg = refusal(() => unpickle(systemCall('torch', 'FloatStorage', false), { what: 'x.pkl', globals: torchGlobals() }));
    expect(msg).toMatch(/torch\.FloatStorage.*not called/);
  });

  it('refuses opcodes it does not know (INST, EXT1) by name', () => {
    expect(refusal(() => unpickle(Uint8Array.from([0x80, 2, 0x69, ...strToU8('os\nsystem\n'), 0x2e]), { what: 'x', globals: torchGlobals() }))).toMatch(/0x69 \(INST\)/);
    expect(refusal(() => unpickle(Uint8Array.from([0x80, 2, 0x82, 1, 0x2e]), { what: 'x', globals: torchGlobals() }))).toMatch(/EXT1/);
  });

  it('refuses a truncated pickle and a mark bomb', () => {
    const good = new PickleWriter().proto(2).str('hello').finish();
    expect(refusal(() => unpickle(good.subarray(0, good.length - 3), { what: 'x', globals: new Map() }))).toMatch(/truncated/);
    expect(refusal(() => unpickle(Uint8Array.from([...new Array<number>(20_000).fill(0x28), 0x2e]), { what: 'x', globals: new Map() }))).toMatch(/nested marks/);
  });

  it('property: random bytes and random opcode soup give a value or a MotobioError, never another error', () => {
    const ops = [0x80, 0x28, 0x29, 0x4e, 0x4b, 0x58, 0x5d, 0x61, 0x62, 0x63, 0x68, 0x71, 0x74, 0x75, 0x7d, 0x81, 0x85, 0x86, 0x87, 0x93, 0x94, 0x52, 0x51, 0x2e, 0x73, 0x65];
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.array(fc.constantFrom(...ops), { maxLength: 300 }).map((a) => Uint8Array.from(a))), (bytes) => {
        try {
          unpickle(bytes, { what: 'fuzz', globals: torchGlobals(), persistentLoad: () => null });
        } catch (e) {
          if (!isMotobioError(e)) throw e;
        }
      }),
      { numRuns: 2000, seed: 7 },
    );
  });
});

describe('hostile checkpoints', () => {
  it('a policy.pth whose pickle calls os.system is refused naming the global (nothing runs)', () => {
    const zip = repack(cartpole, (f) => {
      f['policy.pth'] = repack(f['policy.pth'], (p) => {
        p['archive/data.pkl'] = systemCall('os', 'system', false);
      });
    });
    expect(refusal(() => readCheckpoint(zip, 'evil.zip'))).toMatch(/evil\.zip:policy\.pth:archive\/data\.pkl: refers to the Python global "os\.system"/);
  });

  it('a vecnormalize.pkl that reaches for builtins.exec is refused naming it', () => {
    const real = readFileSync(`${SHARED}Walker2d-v3.vecnormalize.pkl`);
    // Swap the VecNormalize class for builtins.exec (same GLOBAL opcode, other name).
    const evil = Buffer.concat([Uint8Array.from([0x80, 2]), systemCall('builtins', 'exec', false).subarray(2)]);
    expect(refusal(() => readVecNormalize(evil, 'vecnormalize.pkl', 18))).toMatch(/"builtins\.exec"/);
    expect(readVecNormalize(real, 'vecnormalize.pkl', 18).clipObs).toBe(10);
  });

  it('a truncated tensor storage is refused naming the storage', () => {
    const c = buildCheckpoint(arch);
    const pth = torchZip(c.tensors, { truncate: 'mlp_extractor.policy_net.2.weight' });
    expect(refusal(() => readStateDict(pth, 'policy.pth'))).toMatch(/storage \d+ has \d+ bytes but 256 float32 values need 1024; the storage is truncated/);
  });

  it('a flipped byte in a weight storage fails the zip CRC, naming the entry', () => {
    // policy.pth is stored uncompressed inside the outer zip, so its storages appear verbatim.
    const bytes = Uint8Array.from(cartpole);
    const at = Buffer.from(bytes).indexOf(Buffer.from('archive/data/')) + 400;
    bytes[at] ^= 0xff;
    expect(refusal(() => readCheckpoint(bytes, 'flipped.zip'))).toMatch(/entry policy\.pth fails its CRC-32 check/);
  });

  it('state-dict shapes that disagree with net_arch in data are refused, naming both', () => {
    const c = buildCheckpoint(arch, (d) => {
      d.policy_kwargs = { net_arch: [{ pi: [32, 32], vf: [16, 16] }] };
    });
    expect(refusal(() => readCheckpoint(c.zip, 'm.zip'))).toMatch(/state dict's layers \(shared \[\], pi \[16, 16\], vf \[16, 16\]\) disagree with net_arch/);
  });

  it('layers whose shapes do not chain, an action head that does not fit the space, and an unknown module are refused', () => {
    const broken = buildCheckpoint(arch, (_d, t) => {
      const w = t.find((x) => x.name === 'mlp_extractor.policy_net.2.weight')!;
      w.shape = [16, 8];
      w.data = w.data.subarray(0, 128);
    });
    expect(refusal(() => readCheckpoint(broken.zip, 'm.zip'))).toMatch(/policy_net\.2\.weight takes 8 inputs but .* gives it 16/);
    const wrongN = buildCheckpoint(arch, (d) => {
      (d.action_space as Record<string, unknown>).n = '3';
    });
    expect(refusal(() => readCheckpoint(wrongN.zip, 'm.zip'))).toMatch(/action_net has 2 outputs but the Discrete\(3\) action space needs 3/);
    const extra = buildCheckpoint(arch, (_d, t) => {
      t.push({ name: 'features_extractor.cnn.0.weight', shape: [2, 2], data: new Float32Array(4) });
    });
    expect(refusal(() => readCheckpoint(extra.zip, 'm.zip'))).toMatch(/features_extractor\.cnn\.0\.weight are not part of an MLP actor-critic/);
  });

  it('other policy classes and spaces are refused by name', () => {
    const dqn = buildCheckpoint(arch, (d) => {
      (d.policy_class as Record<string, unknown>)[':serialized:'] = classPickle('stable_baselines3.dqn.policies', 'DQNPolicy');
    });
    expect(refusal(() => readCheckpoint(dqn.zip, 'm.zip'))).toMatch(/policy class .*DQNPolicy is not supported/);
    const md = buildCheckpoint(arch, (d) => {
      (d.action_space as Record<string, unknown>)[':type:'] = "<class 'gymnasium.spaces.multi_discrete.MultiDiscrete'>";
    });
    expect(refusal(() => readCheckpoint(md.zip, 'm.zip'))).toMatch(/MultiDiscrete is not supported|MultiDiscrete.*are not/);
  });

  it('an entry that claims more than a policy can need is refused before it is inflated', () => {
    const bytes = Uint8Array.from(cartpole);
    const v = new DataView(bytes.buffer);
    // Patch the uncompressed size of "data" in the central directory.
    for (let p = bytes.length - 22; p > 0; p--) {
      if (v.getUint32(p, true) === 0x02014b50 && Buffer.from(bytes.subarray(p + 46, p + 50)).toString() === 'data') {
        v.setUint32(p + 24, 0xfffffff0, true);
        break;
      }
    }
    expect(refusal(() => readCheckpoint(bytes, 'bomb.zip'))).toMatch(/entry data claims 4294967280 bytes/);
  });

  it('not a zip, an empty file, a PyTorch legacy file', () => {
    expect(refusal(() => readCheckpoint(strToU8('hello world, not a zip at all'), 'x.zip'))).toMatch(/not a zip archive/);
    expect(refusal(() => readCheckpoint(new Uint8Array(0), 'x.zip'))).toMatch(/not a zip archive/);
    expect(refusal(() => readStateDict(Uint8Array.from([0x80, 0x02, 0x8a, 0x0a]), 'old.pth'))).toMatch(/legacy/);
  });

  it('property: a fuzzed checkpoint (flipped bytes, truncation, garbage) imports the same policy or is refused with a MotobioError', () => {
    const good = readCheckpoint(cartpole, 'CartPole-v1.zip');
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.array(fc.nat({ max: cartpole.length - 1 }), { minLength: 1, maxLength: 8 }), xor: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat({ max: cartpole.length - 1 }).map((n) => [n]), xor: fc.constant(0) }),
      fc.record({ kind: fc.constant('tail' as const), at: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 64 }), xor: fc.constant(0) }),
    );
    fc.assert(
      fc.property(mutation, (m) => {
        let bytes: Uint8Array;
        if (m.kind === 'flip') {
          bytes = Uint8Array.from(cartpole);
          for (const i of m.at) bytes[i] ^= m.xor;
        } else if (m.kind === 'truncate') bytes = cartpole.subarray(0, m.at[0]);
        else bytes = Uint8Array.from([...cartpole.subarray(0, cartpole.length - m.at.length), ...m.at]);
        try {
          const spec = readCheckpoint(bytes, 'fuzzed.zip');
          // Accepted: the bytes that changed were not ones the policy is made of.
          expect(spec.netArch).toEqual(good.netArch);
          expect(Array.from(spec.actionNet.weight)).toEqual(Array.from(good.actionNet.weight));
          expect(Array.from(spec.pi[0].weight)).toEqual(Array.from(good.pi[0].weight));
        } catch (e) {
          if (!isMotobioError(e, 'MODEL_INVALID')) throw e;
        }
      }),
      { numRuns: 300, seed: 11 },
    );
  }, 120_000);
});

/**
 * A loaded, checked policy model: manifest + onnxruntime session. Loading refuses anything
 * that does not match its manifest (hash, names, shapes, opset, ops, int8), and probes the
 * session once so a model that cannot run is caught before it is put in service.
 */
import type * as Ort from 'onnxruntime-node';
import { MotobioError, errorMessage } from '../util/errors.js';
import type { Action } from './features.js';
import { checkModelAgainstManifest, readManifest, readVerified, type ModelFileRef, type ModelManifest } from './manifest.js';

export interface LoadOptions {
  /** Refuse fp32 models (the unit runs int8). Default true. */
  readonly requireInt8?: boolean;
  /** Load the manifest's reference (fp32) file instead of the int8 one, for comparisons. */
  readonly useReference?: boolean;
}

export interface PolicyIdentity {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
  readonly precision: 'fp32' | 'int8';
}

let ortModule: typeof Ort | undefined;
/** onnxruntime is loaded on first use so commands that never infer do not pay for it. */
export async function loadOrt(): Promise<typeof Ort> {
  ortModule ??= await import('onnxruntime-node');
  return ortModule;
}

export class PolicyModel {
  private constructor(
    readonly manifest: ModelManifest,
    readonly manifestPath: string,
    readonly file: ModelFileRef,
    readonly modelPath: string,
    readonly sizeBytes: number,
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
  ) {}

  get identity(): PolicyIdentity {
    return { name: this.manifest.name, version: this.manifest.version, sha256: this.file.sha256, precision: this.file.precision };
  }

  get actions(): readonly Action[] {
    return this.manifest.actions;
  }

  static async load(manifestPath: string, options: LoadOptions = {}): Promise<PolicyModel> {
    const manifest = readManifest(manifestPath);
    const file = options.useReference ? manifest.reference : manifest.model;
    if (!file) throw new MotobioError('MODEL_INVALID', `${manifestPath}: no reference (fp32) model listed; add "reference" to the manifest`);
    // An imported policy whose int8 form missed its targets ships fp32, with the reason in its manifest.
    const fp32ByDecision = file.precision === 'fp32' && manifest.sb3?.precision?.chosen === 'fp32';
    if ((options.requireInt8 ?? true) && !options.useReference && file.precision !== 'int8' && !fp32ByDecision) {
      throw new MotobioError('MODEL_INVALID', `${manifestPath}: the model is ${file.precision}; the unit runs int8 models, quantize it with "motobio model quantize" first`);
    }
    const { path, bytes } = readVerified(manifestPath, file);
    checkModelAgainstManifest(bytes, path, manifest, file);
    const ort = await loadOrt();
    let session: Ort.InferenceSession;
    try {
      // One thread: a 3-layer MLP is far too small to gain from more, and the daemon shares the core.
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        executionProviders: ['cpu'],
        // No arena: the model's tensors are a few KB, and the arena's chunks stay resident (~2 MB RSS, bench/startup-memory.ts).
        enableCpuMemArena: false,
      });
    } catch (e) {
      throw new MotobioError('MODEL_INVALID', `${path}: onnxruntime cannot load it (${errorMessage(e)}); re-export the model`, { cause: e });
    }
    const policy = new PolicyModel(manifest, manifestPath, file, path, bytes.length, ort, session);
    try {
      await policy.infer(new Float32Array(manifest.features.length));
    } catch (e) {
      await session.release();
      throw new MotobioError('MODEL_INVALID', `${path}: a test inference failed (${errorMessage(e)}); the model is not usable`, { cause: e });
    }
    return policy;
  }

  /** One decision's probabilities. Throws when the output is not a probability vector. */
  async infer(obs: Float32Array): Promise<Float32Array> {
    const probs = await this.inferBatch(obs, 1);
    return probs;
  }

  /** Rows of `features.length` values each; returns rows of `actions.length` probabilities. */
  async inferBatch(obs: Float32Array, rows: number): Promise<Float32Array> {
    const nIn = this.manifest.features.length;
    if (obs.length !== rows * nIn) throw new MotobioError('INTERNAL', `policy input has ${obs.length} values, expected ${rows}x${nIn}`);
    const feeds = { [this.manifest.input.name]: new this.ort.Tensor('float32', obs, [rows, nIn]) };
    const out = await this.session.run(feeds, [this.manifest.output.name]);
    const t = out[this.manifest.output.name];
    const data = t?.data;
    const nOut = this.manifest.actions.length;
    if (!(data instanceof Float32Array) || data.length !== rows * nOut) {
      throw new MotobioError('MODEL_INVALID', `${this.modelPath}: output ${this.manifest.output.name} is not ${rows}x${nOut} float32`);
    }
    for (let r = 0; r < rows; r++) {
      let sum = 0;
      for (let i = 0; i < nOut; i++) {
        const p = data[r * nOut + i];
        if (!Number.isFinite(p) || p < -1e-4 || p > 1 + 1e-4) {
          throw new MotobioError('MODEL_INVALID', `${this.modelPath}: output is not a probability (${p}) for row ${r}; the model is broken for this input`);
        }
        sum += p;
      }
      if (Math.abs(sum - 1) > 1e-2) throw new MotobioError('MODEL_INVALID', `${this.modelPath}: output row ${r} sums to ${sum.toFixed(4)}, not 1`);
    }
    return data;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export function argmax(p: ArrayLike<number>, offset = 0, n = p.length): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (p[offset + i] > p[offset + best]) best = i;
  return best;
}

/**
 * The prompt library: one PCM buffer per prompt name, ready to play, loaded at start.
 *
 *   <prompts_dir>/<lang>/<name>.wav ──(technician's file, if there)──┐
 *   catalogue text ──espeak-ng──▶ <cache_dir>/<lang>-<name>-<hash>.wav ─┼─▶ decode ─▶ volume ─▶ Prompt
 *   neither usable ──────────────────────────────────────────▶ tone ─┘
 *
 * Rendering happens on the unit, once: the cache file's name carries a hash of the text, the
 * voice and espeak-ng's version, so a new text or a new espeak-ng renders again and nothing
 * else does. Every problem (a technician's file that is not a usable WAV, espeak-ng missing)
 * is returned with the prompt's name and file, and that prompt becomes a tone: the daemon runs.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../util/log.js';
import { errorMessage } from '../util/errors.js';
import { PROMPT_TEXTS, VOICES, promptEntries, type PromptEntry } from './catalogue.js';
import { decodeWav, scale, tone } from './pcm.js';
import type { CueLanguage } from './settings.js';
import { CUE_RATE_HZ, type CueKind } from './types.js';

const run = promisify(execFile);

/** Speaking rate for espeak-ng, words per minute: a little slower than its 175 for a helmet speaker at speed. */
export const ESPEAK_WPM = 150;

export interface Prompt {
  readonly name: string;
  readonly kind: CueKind;
  /** Mono S16 at CUE_RATE_HZ, volume applied. */
  readonly pcm: Int16Array;
  readonly source: 'file' | 'rendered' | 'tone';
  /** The file it came from (a technician's or the cache), when not a tone. */
  readonly file?: string;
}

export interface PromptProblem {
  readonly name: string;
  readonly file?: string;
  readonly error: string;
}

export interface PromptLibraryOptions {
  language: CueLanguage;
  /** Technician's replacement WAVs, <dir>/<language>/<name>.wav; '' for none. */
  promptsDir: string;
  cacheDir: string;
  volume: number;
  log: Logger;
  /** espeak-ng binary (tests point it elsewhere to see the fallback). */
  espeak?: string;
}

export class PromptLibrary {
  private readonly fallback = new Map<CueKind, Prompt>();
  private readonly unknownLogged = new Set<string>();

  private constructor(
    private readonly prompts: Map<string, Prompt>,
    readonly problems: readonly PromptProblem[],
    readonly language: CueLanguage,
    private readonly volume: number,
    private readonly log: Logger,
  ) {}

  /** Loads (rendering what the cache lacks) every prompt of the language. Never throws for a prompt. */
  static async load(o: PromptLibraryOptions): Promise<PromptLibrary> {
    const problems: PromptProblem[] = [];
    const prompts = new Map<string, Prompt>();
    mkdirSync(o.cacheDir, { recursive: true, mode: 0o700 });
    const overrideDir = o.promptsDir === '' ? undefined : join(o.promptsDir, o.language);
    if (o.promptsDir !== '' && !isDir(o.promptsDir)) problems.push({ name: '*', file: o.promptsDir, error: 'rider.audio.prompts_dir does not exist or is not a directory; using the rendered prompts' });
    const version = await espeakVersion(o.espeak ?? 'espeak-ng');
    const entries = promptEntries(o.language);
    // Two at a time: the unit has two cores and the daemon is deciding meanwhile.
    for (let i = 0; i < entries.length; i += 2) {
      const batch = entries.slice(i, i + 2);
      const loaded = await Promise.all(batch.map((e) => loadOne(e, o, overrideDir, version, problems)));
      for (const p of loaded) prompts.set(p.name, p);
    }
    for (const p of problems) o.log.error({ prompt: p.name, file: p.file, err: p.error }, `prompt ${p.name}: ${p.error}; it plays as a plain tone`);
    return new PromptLibrary(prompts, problems, o.language, o.volume, o.log);
  }

  /** The prompt for a cue; an unknown name plays its kind's tone (logged once). */
  get(name: string, kind: CueKind): Prompt {
    const p = this.prompts.get(name);
    if (p && p.kind === kind) return p;
    if (!this.unknownLogged.has(`${kind}:${name}`)) {
      this.unknownLogged.add(`${kind}:${name}`);
      this.log.warn({ prompt: name, kind }, `no ${kind} prompt named ${name} in the catalogue (src/cues/catalogue.ts); it plays as a plain tone`);
    }
    let t = this.fallback.get(kind);
    if (!t) {
      t = { name: `tone:${kind}`, kind, pcm: scale(tone(kind), this.volume), source: 'tone' };
      this.fallback.set(kind, t);
    }
    return t;
  }

  list(): Prompt[] {
    return [...this.prompts.values()];
  }
}

async function loadOne(e: PromptEntry, o: PromptLibraryOptions, overrideDir: string | undefined, version: string | undefined, problems: PromptProblem[]): Promise<Prompt> {
  const asTone = (): Prompt => ({ name: e.name, kind: e.kind, pcm: scale(tone(e.kind), o.volume), source: 'tone' });
  if (overrideDir) {
    const file = join(overrideDir, `${e.name}.wav`);
    if (existsSync(file)) {
      try {
        return { name: e.name, kind: e.kind, pcm: scale(decodeWav(readFileSync(file)), o.volume), source: 'file', file };
      } catch (err) {
        problems.push({ name: e.name, file, error: `not a usable prompt: ${errorMessage(err)}` });
        return asTone();
      }
    }
  }
  if (version === undefined) {
    problems.push({ name: e.name, error: `espeak-ng is not installed (apt-get install espeak-ng), and no file ${overrideDir ? join(overrideDir, `${e.name}.wav`) : 'in rider.audio.prompts_dir'}` });
    return asTone();
  }
  const voice = VOICES[o.language];
  const hash = createHash('sha256').update(`${version}\n${voice}\n${ESPEAK_WPM}\n${CUE_RATE_HZ}\n${e.text}`).digest('hex').slice(0, 12);
  const file = join(o.cacheDir, `${o.language}-${e.name}-${hash}.wav`);
  try {
    if (!existsSync(file)) await render(o.espeak ?? 'espeak-ng', voice, e.text, file);
    return { name: e.name, kind: e.kind, pcm: scale(decodeWav(readFileSync(file)), o.volume), source: 'rendered', file };
  } catch (err) {
    // A torn cache file (power cut mid-render) renders again at the next start.
    rmSync(file, { force: true });
    problems.push({ name: e.name, file, error: `cannot render with espeak-ng: ${errorMessage(err)}` });
    return asTone();
  }
}

async function render(espeak: string, voice: string, text: string, file: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await run(espeak, ['-v', voice, '-s', String(ESPEAK_WPM), '-w', tmp, '--', text], { timeout: 20_000 });
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}

async function espeakVersion(espeak: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(espeak, ['--version'], { timeout: 5000 });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** For docs and the technician: every prompt name and its text in a language. */
export function promptTable(language: CueLanguage): { name: string; text: string }[] {
  return Object.entries(PROMPT_TEXTS[language]).map(([name, text]) => ({ name, text }));
}

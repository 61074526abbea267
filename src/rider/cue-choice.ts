/**
 * Per-rider cue choice: among the coaching cue kinds the policy and the rules allow at a
 * moment, prefer the kind that has worked for this rider, by Thompson sampling over each
 * kind's outcome (the reward: how far the heart rate fell, from the cue_outcome record).
 *
 *   engine: cue due (threshold, hysteresis, cooldowns passed) ──allowed kinds──▶ choose()
 *        ◀── chosen kind ── floor? uniform pick : argmax of a draw from each kind's posterior
 *   cue_outcome (complete, coaching) ──reward()──▶ arm (discounted n, Σr, Σr²) ──▶ RiderStore
 *
 * It never adds a cue and never moves one in time: it only picks among kinds the engine
 * already allows (safety rules, hysteresis and cooldowns stay the engine's). Two things keep a
 * kind from being silenced forever: an exploration floor (with probability `floor` the pick
 * is uniform, so every allowed kind keeps at least floor/k of the picks) and a discount on old
 * evidence (discounted Thompson sampling: every outcome multiplies the evidence of every kind
 * by `discount`, so evidence is capped at about 1/(1-discount) outcomes, the posterior of a
 * kind that is not being tried widens again until it is, and a rider who changes is followed).
 */
import type { CueOutcome } from '../cues/outcome.js';
import { normal, type Random } from './random.js';
import type { ArmStats, RiderStore } from './store.js';

export type RewardKind = 'hr_drop' | 'rmssd_rise';

export interface ChooserConfig {
  /** Share of choices made uniformly at random among the allowed kinds. */
  readonly explorationFloor: number;
  /** Each new outcome multiplies the past evidence of every kind by this. */
  readonly discount: number;
  /** Prior: mean reward before any outcome (then this rider's mean over all kinds), its weight in outcomes, and the reward's spread. */
  readonly priorMean: number;
  readonly priorN: number;
  readonly priorSd: number;
  readonly reward: RewardKind;
}

export const DEFAULT_CHOOSER: ChooserConfig = { explorationFloor: 0.1, discount: 0.97, priorMean: 0, priorN: 1, priorSd: 3, reward: 'hr_drop' };

export interface Choice {
  readonly chosen: string;
  readonly proposed: string;
  readonly allowed: readonly string[];
  readonly by: 'only' | 'explore' | 'thompson';
  /** The posterior draw per kind (thompson only). */
  readonly draws?: Readonly<Record<string, number>>;
}

export interface ArmView {
  readonly cue: string;
  readonly n: number;
  readonly total: number;
  /** Posterior mean reward (prior included). */
  readonly mean: number;
  readonly sd: number;
}

export class CueChooser {
  readonly config: ChooserConfig;
  private readonly stats = new Map<string, ArmStats>();

  constructor(
    private readonly store: RiderStore | null,
    readonly riderId: string,
    private readonly random: Random,
    config: Partial<ChooserConfig> = {},
    private readonly wallNow: () => number = Date.now,
  ) {
    this.config = { ...DEFAULT_CHOOSER, ...config };
    const c = this.config;
    if (!(c.explorationFloor > 0 && c.explorationFloor <= 1)) throw new RangeError(`cue choice: the exploration floor must be in (0, 1], got ${c.explorationFloor}; 0 could silence a kind forever`);
    if (!(c.discount > 0 && c.discount <= 1)) throw new RangeError(`cue choice: discount must be in (0, 1], got ${c.discount}`);
    for (const a of store?.arms(riderId) ?? []) this.stats.set(a.cue, a);
  }

  /**
   * The prior a kind shrinks to: this rider's mean reward over all kinds (empirical Bayes), the
   * configured prior before any. A kind whose evidence has been forgotten so looks like an
   * average kind for this rider, not like a useless one, and is tried again.
   */
  private priorMean(): number {
    let n = 0;
    let sum = 0;
    for (const a of this.stats.values()) {
      n += a.n;
      sum += a.sum;
    }
    return n > 1e-9 ? sum / n : this.config.priorMean;
  }

  private posterior(cue: string, prior = this.priorMean()): { mean: number; sd: number; n: number } {
    const c = this.config;
    const a = this.stats.get(cue);
    const n = a?.n ?? 0;
    const sum = a?.sum ?? 0;
    const ss = n > 0 ? Math.max(0, (a?.sumSq ?? 0) - (sum * sum) / n) : 0;
    const weight = c.priorN + n;
    const mean = (prior * c.priorN + sum) / weight;
    const variance = (c.priorSd * c.priorSd * c.priorN + ss) / weight;
    return { mean, sd: Math.sqrt(variance / weight), n };
  }

  /** Picks one of `allowed` (the engine's proposal among them). */
  choose(allowed: readonly string[], proposed: string): Choice {
    const kinds = [...new Set(allowed.includes(proposed) ? allowed : [proposed, ...allowed])];
    if (kinds.length === 1) return { chosen: proposed, proposed, allowed: kinds, by: 'only' };
    if (this.random() < this.config.explorationFloor) {
      const chosen = kinds[Math.min(kinds.length - 1, Math.floor(this.random() * kinds.length))];
      return { chosen, proposed, allowed: kinds, by: 'explore' };
    }
    const draws: Record<string, number> = {};
    let chosen = proposed;
    const prior = this.priorMean();
    for (const k of kinds) {
      const p = this.posterior(k, prior);
      draws[k] = p.mean + p.sd * normal(this.random);
      if (draws[k] > draws[chosen]) chosen = k;
    }
    return { chosen, proposed, allowed: kinds, by: 'thompson', draws };
  }

  /** The reward an outcome gives, or null when it cannot be one (not complete, nothing measured). */
  rewardOf(o: CueOutcome): number | null {
    if (o.kind !== 'coaching' || !o.complete) return null;
    const r = this.config.reward === 'hr_drop' ? (o.delta.hrBpm === null ? null : -o.delta.hrBpm) : o.delta.rmssdMs;
    return r !== null && Number.isFinite(r) ? r : null;
  }

  /** Counts an outcome for its kind (persisted); returns the reward used, or null. */
  reward(o: CueOutcome): number | null {
    const r = this.rewardOf(o);
    if (r === null) return null;
    this.update(o.name, r);
    return r;
  }

  /** Counts a reward for a kind directly (the bench's rider model, tests). */
  update(cue: string, r: number): void {
    const g = this.config.discount;
    if (!this.stats.has(cue)) this.stats.set(cue, { cue, n: 0, sum: 0, sumSq: 0, total: 0 });
    const wall = this.wallNow();
    for (const a of [...this.stats.values()]) {
      const hit = a.cue === cue;
      const next: ArmStats = { cue: a.cue, n: a.n * g + (hit ? 1 : 0), sum: a.sum * g + (hit ? r : 0), sumSq: a.sumSq * g + (hit ? r * r : 0), total: a.total + (hit ? 1 : 0) };
      this.stats.set(a.cue, next);
      this.store?.saveArm(this.riderId, next, wall);
    }
  }

  arms(): ArmView[] {
    return [...this.stats.values()].map((a) => {
      const p = this.posterior(a.cue);
      return { cue: a.cue, n: a.n, total: a.total, mean: p.mean, sd: p.sd };
    });
  }
}

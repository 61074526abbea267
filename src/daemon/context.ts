/**
 * The daemon's composition seam: how it gets each stage. Each stage folder exports what turns
 * it into a running component (src/store/stage.ts, src/uplink/stage.ts, src/inference/stage.ts,
 * src/update/stage.ts, src/sources/stage.ts, src/signal/stage.ts); productionStages()
 * (./stages.ts) names them, and tests hand in their own through the same seam. A missing
 * factory means "not wired": the daemon runs without that stage and logs it once.
 */
import type { StageContext } from '../core/context.js';
import type { EcgSource } from '../sources/types.js';
import type { SignalChain } from '../signal/stage.js';
import type { DecisionHooks, DecisionStage } from '../inference/stage.js';
import type { StoreStage } from '../store/stage.js';
import type { UplinkStage } from '../uplink/stage.js';
import type { UpdateDeps, UpdateService } from '../update/stage.js';
import type { RideContextSource } from '../context/types.js';
import type { RiderStage } from '../rider/stage.js';
import type { CueStage } from '../cues/stage.js';
import type { CueWiring } from '../cues/wiring.js';

export interface StageFactories {
  source?(ctx: StageContext): EcgSource | Promise<EcgSource>;
  chain?(ctx: StageContext, fs: number | undefined): SignalChain;
  decisions?(ctx: StageContext, hooks: DecisionHooks): Promise<DecisionStage>;
  outbox?(ctx: StageContext): Promise<StoreStage>;
  uplink?(ctx: StageContext, store: StoreStage | undefined): Promise<UplinkStage>;
  updates?(ctx: StageContext, deps: UpdateDeps): Promise<UpdateService>;
  /** Riding or stopped (gpsd, or the assumption without GPS). Absent: riding assumed. */
  rideContext?(ctx: StageContext): RideContextSource;
  /** The rider's profile in the store's file (opened after the store). */
  rider?(ctx: StageContext): Promise<RiderStage>;
  /** What the rider hears. */
  cues?(ctx: StageContext, wiring: CueWiring): CueStage;
}

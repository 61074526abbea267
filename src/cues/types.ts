export type CueKind = 'safety' | 'coaching';
export interface CueRequest { decisionSeq: number; kind: CueKind; name: string; decidedMonoMs: number; active?: boolean }
export type CueDeliveryState = 'played' | 'interrupted' | 'dropped' | 'muted';
export interface CueDelivery { decisionSeq: number; kind: CueKind; name: string; state: CueDeliveryState; startMonoMs?: number; endMonoMs?: number; reason?: string; repeat?: number; language: string; prompt: 'voice' | 'tone' }

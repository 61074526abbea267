/**
 * From a record's JSON body to its typed table's columns. The shapes belong to the daemon
 * (docs/telemetry.md "Record types"): unknown fields are ignored, a missing or mistyped field
 * is NULL, never an error (the raw JSON stays in `records.data`). Health status records are
 * read by the field names docs/fleet.md lists.
 */
export type Row = Record<string, string | number | boolean | null>;

const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const n = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) ? v : null);
const s = (v: unknown): string | null => (typeof v === 'string' ? v.slice(0, 200) : null);
const first = <T>(...xs: (T | null)[]): T | null => xs.find((x) => x !== null) ?? null;

/** `policy-int8@3` from a model identity object or a string. */
export function modelName(v: unknown): string | null {
  if (typeof v === 'string') return v.slice(0, 200);
  const m = obj(v);
  const name = s(m['name']) ?? s(m['id']);
  if (name === null) return null;
  const ver = s(m['version']) ?? (n(m['version']) !== null ? String(m['version']) : null);
  return ver === null ? name : `${name}@${ver}`;
}

export type TypedTable = 'features' | 'decisions' | 'cue_outcomes' | 'safety_events' | 'unit_status' | 'update_reports';

export const TABLE_OF_TYPE: Readonly<Record<string, TypedTable>> = {
  features: 'features',
  decision: 'decisions',
  cue: 'cue_outcomes',
  safety: 'safety_events',
  status: 'unit_status',
  update: 'update_reports',
};

/** Column order per table after (device, seq, at); the SQL casts follow it. */
export const TABLE_COLUMNS: Readonly<Record<TypedTable, readonly (readonly [string, string])[]>> = {
  features: [['hr_bpm', 'real'], ['rmssd_ms', 'real'], ['sdnn_ms', 'real'], ['pnn50', 'real'], ['lf_ms2', 'real'], ['hf_ms2', 'real'], ['lf_hf', 'real'], ['quality', 'real'], ['ectopic_share', 'real'], ['window_s', 'real'], ['end_s', 'float8']],
  decisions: [['action', 'text'], ['source', 'text'], ['confidence', 'real'], ['model', 'text'], ['features_seq', 'bigint'], ['latency_ms', 'real']],
  cue_outcomes: [['decision_seq', 'bigint'], ['state', 'text']],
  safety_events: [['rule', 'text'], ['value', 'real'], ['threshold', 'real'], ['message', 'text']],
  unit_status: [
    ['kind', 'text'], ['version', 'text'], ['model', 'text'], ['battery', 'real'], ['temp_c', 'real'], ['cpu', 'real'], ['memory', 'real'], ['rss_bytes', 'bigint'],
    ['outbox_records', 'bigint'], ['outbox_age_s', 'real'], ['disk_free_bytes', 'bigint'], ['link', 'text'], ['decision_p95_ms', 'real'], ['quality_good', 'real'],
  ],
  update_reports: [['event', 'text'], ['kind', 'text'], ['version', 'text'], ['reason', 'text']],
};

function decisionConfidence(d: Record<string, unknown>): number | null {
  const direct = n(d['confidence']);
  if (direct !== null) return direct;
  const p = obj(d['probabilities']);
  const a = s(d['action']) ?? s(d['name']);
  return a === null ? null : n(p[a]);
}

export function typedColumns(table: TypedTable, data: unknown): Row {
  const d = obj(data);
  switch (table) {
    case 'features':
      return {
        hr_bpm: n(d['hrBpm']), rmssd_ms: n(d['rmssdMs']), sdnn_ms: n(d['sdnnMs']), pnn50: n(d['pnn50']), lf_ms2: n(d['lfMs2']), hf_ms2: n(d['hfMs2']),
        lf_hf: n(d['lfHf']), quality: n(d['quality']), ectopic_share: n(d['ectopicShare']), window_s: n(d['windowS']), end_s: n(d['endS']),
      };
    case 'decisions':
      return {
        action: first(s(d['action']), s(d['name'])),
        source: s(d['source']),
        confidence: decisionConfidence(d),
        model: modelName(d['model']),
        features_seq: int(d['featuresSeq']),
        latency_ms: first(n(obj(d['latencyMs'])['total']), n(d['latencyMs'])),
      };
    case 'cue_outcomes':
      return { decision_seq: first(int(d['decisionSeq']), int(d['decision'])), state: first(s(d['state']), s(d['delivery'])) };
    case 'safety_events':
      return { rule: first(s(d['rule']), s(d['name']), s(d['kind'])), value: n(d['value']), threshold: n(d['threshold']), message: s(d['message']) };
    case 'unit_status': {
      const outbox = obj(d['outbox']);
      const model = d['model'];
      return {
        kind: first(s(d['kind']), d['alarm'] !== undefined ? 'alarm' : null),
        version: s(d['version']),
        model: modelName(model) ?? null,
        battery: first(n(d['battery']), n(d['strapBattery'])),
        temp_c: first(n(d['socTempC']), n(d['tempC'])),
        cpu: n(d['cpu']),
        memory: n(d['memory']),
        rss_bytes: int(d['rssBytes']),
        outbox_records: first(int(outbox['records']), int(d['outboxRecords'])),
        outbox_age_s: first(n(outbox['ageS']), n(d['outboxAgeS'])),
        disk_free_bytes: int(d['diskFreeBytes']),
        link: s(d['link']),
        decision_p95_ms: n(d['decisionP95Ms']),
        quality_good: n(d['qualityGood']),
      };
    }
    case 'update_reports':
      // The unit sends its version as a number (src/update/manager.ts): keep it, as text.
      return { event: s(d['event']), kind: s(d['kind']), version: first(s(d['version']), int(d['version']) === null ? null : String(int(d['version']))), reason: s(d['reason']) };
  }
}

/** Fields of a features body that its typed row holds whole (numbers or null). */
const FEATURE_KEYS = new Set(['hrBpm', 'rmssdMs', 'sdnnMs', 'pnn50', 'lfMs2', 'hfMs2', 'lfHf', 'quality', 'ectopicShare', 'windowS', 'endS']);

/**
 * The JSON kept in `records.data`: the body as sent, except for features (the bulk of the
 * traffic), whose known numeric fields live in their typed row: only what the row cannot hold
 * (an unknown field, a non-number) stays, and nothing at all in the usual case. Halves the
 * bytes per record and the ingest's CPU per record.
 */
export function rawJson(type: string, data: unknown): string | null {
  if (data === undefined) return null;
  if (type !== 'features' || data === null || typeof data !== 'object' || Array.isArray(data)) return JSON.stringify(data);
  let rest: Record<string, unknown> | undefined;
  for (const k in data as Record<string, unknown>) {
    const v = (data as Record<string, unknown>)[k];
    if (FEATURE_KEYS.has(k) && (v === null || (typeof v === 'number' && Number.isFinite(v)))) continue;
    (rest ??= {})[k] = v;
  }
  return rest === undefined ? null : JSON.stringify(rest);
}

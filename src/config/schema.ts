/**
 * The one source of truth for the daemon's configuration: the TypeBox schema below gives the
 * TypeScript types (Static<>), the defaults, the validation (ajv, ./load.ts), the JSON Schema
 * editors use (docs/schemas/config.schema.json) and the settings table of docs/config.md
 * (both written by `npm run config:docs`, checked by test/config/schema-docs.test.ts).
 * Keys are snake_case so that every setting has a predictable environment override:
 * `uplink.links[0].url` is MOTOBIO_UPLINK__LINKS__0__URL (./env.ts).
 *
 * `errorMessage` on a node replaces ajv's generic wording with one a technician can act on;
 * `x-type`/`x-default` say what the docs table shows where the schema alone reads badly.
 * `pkg:` in a default path means "relative to the installed package" (bundled assets).
 */
import { Type, type Static } from '@sinclair/typebox';
import { BROKER_URL_RULE } from './broker-url.js';
// Stages declare their own settings as leaf modules (TypeBox only); the configuration composes them.
import { RiderCueSettingsSchema } from '../cues/settings.js';
import { OutcomeSettingsSchema } from '../cues/outcome-settings.js';
import { ContextSettingsSchema } from '../context/settings.js';
import { RiderProfileSettingsSchema } from '../rider/settings.js';
import { ReportSettingsSchema } from '../report/settings.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const SOURCE_KINDS = ['replay', 'serial', 'ble'] as const;

/** The bundled excerpt of a real drive that the embedded defaults replay. */
export const DEFAULT_REPLAY_PATH = 'pkg:src/sources/recordings/drive05-ecg-5min';
export const DEFAULT_MODEL_DIR = 'pkg:models';
export const DEFAULT_STORE_PATH = './var/motobio.db';
export const DEFAULT_HEALTH_PORT = 7411;
export const DEFAULT_CONFIG_PATH = '/etc/motobio/config.yaml';
export const DEFAULT_KEYS_DIR = '/etc/motobio/keys';

/** Settings that name a file or directory: resolved to absolute paths once, at load (./load.ts). */
export const PATH_FORMAT = 'path';

/** One of a fixed set of values, as a plain `enum` (one clear error, not one per alternative). */
function oneOf<const T extends readonly (string | number)[]>(values: T, options: Record<string, unknown> = {}) {
  return Type.Unsafe<T[number]>({ enum: [...values], ...options });
}

function path(description: string, options: Record<string, unknown> = {}) {
  return Type.String({ minLength: 1, format: PATH_FORMAT, errorMessage: 'must be a non-empty file path', description, ...options });
}

function section<T extends Parameters<typeof Type.Object>[0]>(properties: T, options: Record<string, unknown> = {}) {
  return Type.Object(properties, { additionalProperties: false, default: {}, ...options });
}

const Tls = Type.Object(
  {
    ca: Type.Optional(path("CA bundle that signs the broker's certificate.", { 'x-default': 'system CAs' })),
    cert: Type.Optional(path('Client certificate for mutual TLS (needs `tls.key`).')),
    key: Type.Optional(path('Client key (needs `tls.cert`); keep it mode 0600.')),
    servername: Type.Optional(Type.String({ minLength: 1, description: "Name checked against the broker's certificate (SNI).", 'x-default': 'URL host' })),
  },
  { additionalProperties: false, dependencies: { cert: ['key'], key: ['cert'] } },
);

export const LinkSettingsSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$', errorMessage: 'must be 1-32 lowercase letters, digits, "_" or "-" (e.g. "lte")', description: 'Link name (`lte`, `wifi`), unique.' }),
    url: Type.String({ format: 'mqtt-url', errorMessage: `must be ${BROKER_URL_RULE}`, description: '`mqtts://host:8883` (TLS, verified) or `mqtt://host:1883`; no credentials in it.', 'x-type': 'URL' }),
    username: Type.Optional(Type.String({ minLength: 1, description: 'MQTT user name.' })),
    password: Type.Optional(Type.String({ minLength: 1, description: 'MQTT password; never logged (`config check --print` shows `[redacted]`).' })),
    tls: Type.Optional(Tls),
    bind_address: Type.Optional(Type.String({ format: 'ip', errorMessage: 'must be an IPv4 or IPv6 address of this unit', description: 'Local address to bind, which selects the interface (modem, Wi-Fi).', 'x-type': 'IP' })),
    keepalive_s: Type.Integer({ minimum: 5, maximum: 3600, default: 30, description: 'MQTT keepalive (5 ... 3600).' }),
  },
  { additionalProperties: false },
);

const StoreEncryption = Type.Object(
  {
    key_file: Type.Optional(path('Seal record bodies (ECG chunks, feature/decision/safety JSON) with AES-256-GCM under this key: 32 random bytes, raw, base64 or hex (`motobio db keygen --out FILE`). Refused unless mode 0600 or stricter. See docs/security.md.')),
    credential: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9._-]{1,64}$',
        errorMessage: 'must be a systemd credential name (LoadCredential=NAME:...), e.g. "store-key"',
        description: 'Instead of `key_file`: a systemd credential name; the key is read from `$CREDENTIALS_DIRECTORY/<name>` (`LoadCredential=<name>:/etc/motobio/store.key` in the unit).',
      }),
    ),
    old_key_files: Type.Array(path(''), { maxItems: 8, default: [], description: 'Keys used before a rotation; records they sealed still open (the record names its key id).', 'x-type': 'list of paths' }),
  },
  {
    additionalProperties: false,
    not: { required: ['key_file', 'credential'] },
    anyOf: [{ required: ['key_file'] }, { required: ['credential'] }],
    errorMessage: 'needs exactly one of key_file or credential (remove store.encryption to store records unencrypted)',
  },
);

export const configSchema = Type.Object(
  {
    device: section({
      id: Type.String({
        pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
        default: 'motobio-dev',
        errorMessage: 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
        description: "This unit's id in records and topics (1-64 of `A-Z a-z 0-9 . _ -`).",
      }),
    }),
    source: section(
      {
        kind: oneOf(SOURCE_KINDS, { default: 'replay', errorMessage: 'must be one of replay, serial, ble', description: 'Where ECG comes from.' }),
        path: path('Replay: WFDB record (header path or base name), or a directory with `source.record`.', { default: DEFAULT_REPLAY_PATH }),
        record: Type.Optional(Type.String({ minLength: 1, description: 'Replay: record name inside `source.path`.' })),
        device: Type.Optional(Type.String({ minLength: 1, description: 'Serial: device path (`/dev/ttyUSB0`); BLE: advertised name or address. Required for `serial` and `ble`.' })),
        baud: Type.Unsafe<number>({
          type: 'integer',
          enum: [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600],
          default: 115200,
          errorMessage: 'must be a standard baud rate (9600 ... 921600)',
          description: 'Serial baud rate (9600 ... 921600).',
          'x-type': 'integer',
        }),
        channel: Type.Integer({ minimum: 0, maximum: 15, default: 0, description: 'ECG channel of a multi-channel record or front end.' }),
        speed: Type.Number({ exclusiveMinimum: 0, maximum: 1000, default: 1, description: 'Replay speed, 1 = real time (up to 1000).' }),
        loop: Type.Boolean({ default: true, description: 'Replay: start over at the end of the record (the sample timeline keeps counting).' }),
      },
      { allOf: [{ if: { properties: { kind: { enum: ['serial', 'ble'] } }, required: ['kind'] }, then: { required: ['device'] } }] },
    ),
    signal: section({
      decision_period_s: Type.Number({ minimum: 1, maximum: 60, default: 5, description: 'How often features are computed and a decision made, in seconds of signal.' }),
      powerline_hz: oneOf([50, 60] as const, { default: 50, errorMessage: 'must be 50 or 60', description: 'Mains frequency the daemon notches out of a live sensor\'s ECG before the chain (a replayed record is left as recorded).' }),
    }),
    inference: section({
      model_dir: path('Directory with the ONNX coaching policy and its manifest (`default-policy.manifest.json`, else the only `*.manifest.json`). Without a usable model the engine runs on the safety rules alone.', { default: DEFAULT_MODEL_DIR }),
      rules: section({
        hr_high_bpm: Type.Number({ minimum: 100, maximum: 250, default: 185, description: 'Safety: heart rate above this (sustained, with good signal) triggers.' }),
        hr_low_bpm: Type.Number({ minimum: 20, maximum: 60, default: 35, description: 'Safety: heart rate below this triggers.' }),
        no_beat_s: Type.Number({ minimum: 2, maximum: 120, default: 15, description: 'Safety: no beat, or the sensor disconnected, for this long while riding triggers.' }),
        min_quality: Type.Number({ minimum: 0, maximum: 1, default: 0.6, description: 'Signal quality at or above which a heart-rate reading is trusted by the safety rules.' }),
      }),
    }),
    store: section({
      path: path('SQLite outbox file (mode 0600, directory 0700).', { default: DEFAULT_STORE_PATH }),
      disk_budget_mb: Type.Number({
        minimum: 16,
        maximum: 1_000_000,
        default: 512,
        description: "Disk the store may use; beyond it the oldest delivered records go first. Also capped at what the store's filesystem holds (statfs, 8 MB reserve); see docs/store.md.",
      }),
      commit_window_s: Type.Number({
        minimum: 0,
        maximum: 300,
        default: 60,
        description: 'Seconds of signal whose records share one transaction (flash wear; safety records commit at once; a crash loses at most this much of the rest, docs/store.md). 0 = one transaction per record.',
      }),
      encryption: Type.Optional(StoreEncryption),
    }),
    uplink: section({
      topic_prefix: Type.String({ pattern: '^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$', default: 'motobio', errorMessage: 'must be MQTT topic levels without wildcards, e.g. "fleet/motobio"', description: 'MQTT topic prefix, no wildcards.' }),
      links: Type.Array(LinkSettingsSchema, { maxItems: 8, default: [], description: 'Links in order of preference; empty = no uplink (records are kept).', 'x-type': 'list' }),
      batch_max_age_s: Type.Number({
        minimum: 0,
        maximum: 3600,
        default: 120,
        description: 'How long decisions, features and status records may wait to share a batch (0 ... 3600); shorter costs more bytes on the wire (docs/telemetry.md). Safety events leave at once; raw ECG waits at most 10 s.',
      }),
      hold_s: Type.Number({ minimum: 0.5, maximum: 3600, default: 30, description: 'How long a more preferred link must stay connected before traffic returns to it (0.5 ... 3600).' }),
    }),
    health: section({
      host: Type.String({
        format: 'loopback',
        default: '127.0.0.1',
        errorMessage: 'must be a loopback address (127.0.0.1, ::1 or localhost): health has no authentication',
        description: 'Health endpoint address; only `127.x.x.x`, `::1` or `localhost` (no authentication).',
        'x-type': 'loopback address',
      }),
      port: Type.Integer({ minimum: 0, maximum: 65535, default: DEFAULT_HEALTH_PORT, description: 'Health endpoint port (`0` picks a free one, for tests).' }),
    }),
    update: section({
      enabled: Type.Boolean({ default: true, description: 'Accept signed downlink updates (models, configuration); [updates.md](updates.md). Refused ones are reported either way.' }),
      keys_dir: path('Trusted Ed25519 public keys, one PEM file each (`*.pem`, `*.pub`), installed by a technician; not writable by group or others. No `pkg:` paths: keys in the package are never trusted.', {
        pattern: '^(?!pkg:)',
        default: DEFAULT_KEYS_DIR,
        errorMessage: 'must be a directory a technician installs public keys into (e.g. /etc/motobio/keys); a pkg: path is not allowed, keys inside the package are not trusted',
      }),
      dir: path('Applied updates, the last applied versions (replay guard) and the trial state (0700).', { default: './var/updates' }),
      max_bytes: Type.Integer({ minimum: 1024, maximum: 268_435_456, default: 33_554_432, description: 'Largest update message accepted (32 MiB).' }),
      confirm_s: Type.Number({ minimum: 1, maximum: 3600, default: 30, description: 'A pushed configuration is kept once the daemon has run healthy on it (and reached a broker, with links configured) this long.' }),
      trial_s: Type.Number({ minimum: 5, maximum: 86_400, default: 300, description: 'A pushed configuration not confirmed within this long is rolled back.' }),
    }),
    // Who rides and what they hear: the cue stage's language and audio, the rider profile's id, baseline and adaptation.
    rider: Type.Object({ ...RiderCueSettingsSchema.properties, ...RiderProfileSettingsSchema.properties }, { additionalProperties: false, default: {} }),
    context: ContextSettingsSchema,
    cues: section({ outcome: OutcomeSettingsSchema }),
    // What the unit tells the fleet beside the data: health records and ECG strips (src/report).
    report: ReportSettingsSchema,
    calibration_dir: path("Technicians' calibration profiles, `<sensor_id>.json` (`calibration/profile.schema.json`).", { default: './calibration' }),
    log_level: oneOf(LOG_LEVELS, { default: 'info', errorMessage: `must be one of ${LOG_LEVELS.join(', ')}`, description: 'pino log level.', 'x-type': '`fatal` ... `trace`, `silent`' }),
  },
  { $id: 'https://motobio.example/schemas/config.json', additionalProperties: false },
);

export type MotobioConfig = Static<typeof configSchema>;
export type LinkSettings = Static<typeof LinkSettingsSchema>;
export type StoreEncryptionSettings = Static<typeof StoreEncryption>;
export type SourceSettings = MotobioConfig['source'];

/** The schema as plain JSON Schema (TypeBox's symbols dropped), for editors and the docs. */
export function configJsonSchema(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(configSchema)) as Record<string, unknown>;
}

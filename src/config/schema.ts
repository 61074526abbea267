/**
 * The one schema for the daemon's configuration: types, defaults and validation all come
 * from here (docs/config.md is written against it). Keys are snake_case so that every
 * setting has a predictable environment override: `uplink.links[0].url` is
 * MOTOBIO_UPLINK__LINKS__0__URL (see ./config-env.ts).
 *
 * `errorMessage` on a node replaces ajv's generic wording with one a technician can act on.
 * `pkg:` in a default path means "relative to the installed package" (bundled assets).
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const SOURCE_KINDS = ['replay', 'serial', 'ble'] as const;
export type SourceKindSetting = (typeof SOURCE_KINDS)[number];

/**
 * Placeholder for the bundled excerpt of a real drive that the embedded defaults replay.
 * TODO(issue 6 integration): the lead points this at the committed excerpt.
 */
export const DEFAULT_REPLAY_PATH = 'pkg:src/sources/recordings/drive05-ecg-5min';
export const DEFAULT_MODEL_DIR = 'pkg:models';
export const DEFAULT_STORE_PATH = './var/motobio.db';
export const DEFAULT_HEALTH_PORT = 7411;
export const DEFAULT_CONFIG_PATH = '/etc/motobio/config.yaml';

export interface SourceConfig {
  kind: SourceKindSetting;
  /** Replay: WFDB record path (header file or its base name). */
  path: string;
  /** Replay: record name inside `path` when `path` is a directory. */
  record?: string;
  /** Serial: device path (/dev/ttyUSB0); BLE: advertised name or address. */
  device?: string;
  baud: number;
  /** ECG channel of a multi-channel record or front end. */
  channel: number;
  /** Replay speed: 1 is real time. */
  speed: number;
  /** Replay: start over at the end of the record (the timeline keeps counting). */
  loop: boolean;
}

export interface SignalConfig {
  /** How often features are computed and handed to the decision engine, s. */
  decision_period_s: number;
  /** Mains frequency the chain notches out. */
  powerline_hz: 50 | 60;
}

export interface RulesConfig {
  hr_high_bpm: number;
  hr_low_bpm: number;
  /** No beat for this long while the electrodes are on is a safety trigger, s. */
  no_beat_s: number;
  /** Signal quality at or above which a heart-rate reading is trusted by the rules. */
  min_quality: number;
}

export interface InferenceConfig {
  model_dir: string;
  rules: RulesConfig;
}

export interface StoreConfig {
  path: string;
  /** Disk the store may use, MB; past it the lowest-priority, oldest undelivered records are evicted (safety events last), and each eviction is reported. */
  disk_budget_mb: number;
  /** AES-256-GCM sealing of record bodies at rest (src/store/record-cipher.ts); absent = clear. */
  encryption?: StoreEncryptionConfig;
}

export interface StoreEncryptionConfig {
  /** File with the 32-byte key that seals new records (mode 0600 or stricter). */
  key_file?: string;
  /** systemd credential name: the key is read from $CREDENTIALS_DIRECTORY/<name>. */
  credential?: string;
  /** Earlier keys, so records sealed before a rotation still open. */
  old_key_files: string[];
}

export interface TlsConfig {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

export interface LinkConfig {
  name: string;
  url: string;
  username?: string;
  password?: string;
  tls?: TlsConfig;
  /** Local address to bind, which picks the interface (LTE modem, Wi-Fi). */
  bind_address?: string;
  keepalive_s: number;
}

export interface UplinkConfig {
  topic_prefix: string;
  links: LinkConfig[];
  /** How long decisions, features and status may wait to share a batch, s (the 4G bill; safety leaves at once). */
  batch_max_age_s: number;
  /** How long a more preferred link must stay connected before traffic returns to it, s. */
  hold_s: number;
}

export interface HealthConfig {
  host: string;
  port: number;
}

/** Signed downlink updates (docs/updates.md). */
export interface UpdateConfig {
  enabled: boolean;
  /** Trusted Ed25519 public keys (PEM, one per file); installed by a technician, never from the package. */
  keys_dir: string;
  /** Where applied updates, the version record and the trial state live (private to the daemon). */
  dir: string;
  /** Largest update message accepted, bytes. */
  max_bytes: number;
  /** A pushed configuration is kept after the daemon has run healthy on it this long, s. */
  confirm_s: number;
  /** ...and rolled back when that has not happened within this long, s. */
  trial_s: number;
}

export const DEFAULT_KEYS_DIR = '/etc/motobio/keys';

export interface MotobioConfig {
  device: { id: string };
  source: SourceConfig;
  signal: SignalConfig;
  inference: InferenceConfig;
  store: StoreConfig;
  uplink: UplinkConfig;
  health: HealthConfig;
  update: UpdateConfig;
  /** Where technicians' calibration profiles (<sensor_id>.json) are read from. */
  calibration_dir: string;
  log_level: LogLevel;
}

const nonEmptyPath = { type: 'string', minLength: 1, errorMessage: 'must be a non-empty file path' } as const;

const tlsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ca: { ...nonEmptyPath, description: 'CA bundle (PEM) that signs the broker certificate; system CAs when absent.' },
    cert: { ...nonEmptyPath, description: 'Client certificate (PEM) for mutual TLS.' },
    key: { ...nonEmptyPath, description: 'Client private key (PEM), readable only by the motobio user.' },
    servername: { type: 'string', minLength: 1, description: 'Name checked against the broker certificate (SNI).' },
  },
  dependencies: { cert: ['key'], key: ['cert'] },
} as const;

const linkSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'url'],
  properties: {
    name: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9_-]{0,31}$',
      errorMessage: 'must be 1-32 lowercase letters, digits, "_" or "-" (e.g. "lte")',
    },
    url: {
      type: 'string',
      format: 'mqtt-url',
      errorMessage: 'must be a mqtt:// or mqtts:// URL with a host and no user:password in it (use username and password), e.g. mqtts://broker.example:8883',
    },
    username: { type: 'string', minLength: 1 },
    password: { type: 'string', minLength: 1 },
    tls: tlsSchema,
    bind_address: { type: 'string', format: 'ip', errorMessage: 'must be an IPv4 or IPv6 address of this unit' },
    keepalive_s: { type: 'integer', minimum: 5, maximum: 3600, default: 30 },
  },
} as const;

export const configSchema = {
  $id: 'https://motobio.example/schemas/config.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    device: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        id: {
          type: 'string',
          pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
          default: 'motobio-dev',
          errorMessage: 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
        },
      },
    },
    source: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        kind: { enum: SOURCE_KINDS, default: 'replay', errorMessage: 'must be one of replay, serial, ble' },
        path: { ...nonEmptyPath, default: DEFAULT_REPLAY_PATH },
        record: { type: 'string', minLength: 1 },
        device: { type: 'string', minLength: 1 },
        baud: { type: 'integer', enum: [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600], default: 115200, errorMessage: 'must be a standard baud rate (9600 ... 921600)' },
        channel: { type: 'integer', minimum: 0, maximum: 15, default: 0 },
        speed: { type: 'number', exclusiveMinimum: 0, maximum: 1000, default: 1 },
        loop: { type: 'boolean', default: true },
      },
      allOf: [
        {
          if: { properties: { kind: { enum: ['serial', 'ble'] } }, required: ['kind'] },
          then: { required: ['device'] },
        },
      ],
    },
    signal: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        decision_period_s: { type: 'number', minimum: 1, maximum: 60, default: 5 },
        powerline_hz: { enum: [50, 60], default: 50, errorMessage: 'must be 50 or 60' },
      },
    },
    inference: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        model_dir: { ...nonEmptyPath, default: DEFAULT_MODEL_DIR },
        rules: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            hr_high_bpm: { type: 'number', minimum: 100, maximum: 250, default: 185 },
            hr_low_bpm: { type: 'number', minimum: 20, maximum: 60, default: 35 },
            no_beat_s: { type: 'number', minimum: 2, maximum: 120, default: 15 },
            min_quality: { type: 'number', minimum: 0, maximum: 1, default: 0.6 },
          },
        },
      },
    },
    store: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        path: { ...nonEmptyPath, default: DEFAULT_STORE_PATH },
        disk_budget_mb: { type: 'number', minimum: 16, maximum: 1_000_000, default: 512 },
        encryption: {
          type: 'object',
          additionalProperties: false,
          properties: {
            key_file: { ...nonEmptyPath, description: 'File with 32 random bytes (raw, base64 or hex; "motobio db keygen"), mode 0600.' },
            credential: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', errorMessage: 'must be a systemd credential name (LoadCredential=NAME:...), e.g. "store-key"' },
            old_key_files: { type: 'array', items: nonEmptyPath, maxItems: 8, default: [] },
          },
          not: { required: ['key_file', 'credential'] },
          anyOf: [{ required: ['key_file'] }, { required: ['credential'] }],
          errorMessage: 'needs exactly one of key_file or credential (remove store.encryption to store records unencrypted)',
        },
      },
    },
    uplink: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        topic_prefix: {
          type: 'string',
          pattern: '^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$',
          default: 'motobio',
          errorMessage: 'must be MQTT topic levels without wildcards, e.g. "fleet/motobio"',
        },
        links: { type: 'array', items: linkSchema, maxItems: 8, default: [] },
        batch_max_age_s: { type: 'number', minimum: 0, maximum: 3600, default: 120 },
        hold_s: { type: 'number', minimum: 0.5, maximum: 3600, default: 30 },
      },
    },
    health: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', format: 'loopback', default: '127.0.0.1', errorMessage: 'must be a loopback address (127.0.0.1, ::1 or localhost): health has no authentication' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: DEFAULT_HEALTH_PORT },
      },
    },
    update: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        keys_dir: {
          type: 'string',
          minLength: 1,
          pattern: '^(?!pkg:)',
          default: DEFAULT_KEYS_DIR,
          errorMessage: 'must be a directory a technician installs public keys into (e.g. /etc/motobio/keys); a pkg: path is not allowed, keys inside the package are not trusted',
        },
        dir: { ...nonEmptyPath, default: './var/updates' },
        max_bytes: { type: 'integer', minimum: 1024, maximum: 268_435_456, default: 33_554_432 },
        confirm_s: { type: 'number', minimum: 1, maximum: 3600, default: 30 },
        trial_s: { type: 'number', minimum: 5, maximum: 86_400, default: 300 },
      },
    },
    calibration_dir: { ...nonEmptyPath, default: './calibration' },
    log_level: { enum: LOG_LEVELS, default: 'info', errorMessage: `must be one of ${LOG_LEVELS.join(', ')}` },
  },
} as const;

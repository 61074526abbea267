/**
 * pino JSON lines to stdout for journald, each at its own priority under systemd (./journal-stream.ts). One child logger per module (`log.child({ mod })`)
 * so a technician can filter by module; secrets are redacted wherever they appear.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { isJournalStream, journalDestination } from './journal-stream.js';

export type { Logger };

export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'key',
  '*.key',
  '*.*.key',
  'passphrase',
  '*.passphrase',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
];

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env['MOTOBIO_LOG_LEVEL'] ?? 'info',
      base: { svc: 'motobio' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? defaultDestination(),
  );
}

/** stdout; under systemd (stdout is the journal's stream) with each line's `<N>` priority prefix. */
function defaultDestination(): DestinationStream {
  return isJournalStream(1) ? journalDestination(process.stdout) : process.stdout;
}

export function moduleLogger(parent: Logger, mod: string): Logger {
  return parent.child({ mod });
}

/** A logger that drops everything, for library use in commands that print their own output. */
export const silentLogger: Logger = pino({ level: 'silent' });

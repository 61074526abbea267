/**
 * Topic layout, version 1 (docs/telemetry.md is the contract); `motobio` is the configurable prefix:
 *   motobio/v1/{device}/data/{priority}   batches of records, QoS 1, not retained
 *   motobio/v1/{device}/status/{link}     retained {"state":"online"|"offline",...}, last will "offline"
 *   motobio/v1/{device}/cmd/#             downlink commands to the unit
 * A server subscribes `$share/{group}/motobio/v1/+/data/#` to spread devices over workers.
 */
import type { Priority } from '../store/types.js';

/** Default prefix (config `uplink.topic_prefix`); the contract version follows it. */
export const DEFAULT_TOPIC_PREFIX = 'motobio';
export const TOPIC_VERSION = 'v1';

const root = (prefix: string) => `${prefix}/${TOPIC_VERSION}`;
export const dataTopic = (device: string, priority: Priority, prefix = DEFAULT_TOPIC_PREFIX): string => `${root(prefix)}/${device}/data/${priority}`;
export const statusTopic = (device: string, link: string, prefix = DEFAULT_TOPIC_PREFIX): string => `${root(prefix)}/${device}/status/${link}`;
export const commandTopic = (device: string, prefix = DEFAULT_TOPIC_PREFIX): string => `${root(prefix)}/${device}/cmd/#`;
export const allDataFilter = (prefix = DEFAULT_TOPIC_PREFIX, device = '+'): string => `${root(prefix)}/${device}/data/#`;
export const allStatusFilter = (prefix = DEFAULT_TOPIC_PREFIX, device = '+'): string => `${root(prefix)}/${device}/status/+`;
export const sharedFilter = (group: string, filter: string): string => `$share/${group}/${filter}`;

export type ParsedTopic =
  | { kind: 'data'; device: string; priority: string }
  | { kind: 'status'; device: string; link: string }
  | { kind: 'cmd'; device: string; rest: string }
  | { kind: 'other' };

export function parseTopic(topic: string, prefix = DEFAULT_TOPIC_PREFIX): ParsedTopic {
  const head = `${root(prefix)}/`;
  if (!topic.startsWith(head)) return { kind: 'other' };
  const parts = topic.slice(head.length).split('/');
  const device = parts[0];
  if (parts[1] === 'data' && parts.length === 3) return { kind: 'data', device, priority: parts[2] };
  if (parts[1] === 'status' && parts.length === 3) return { kind: 'status', device, link: parts[2] };
  if (parts[1] === 'cmd') return { kind: 'cmd', device, rest: parts.slice(2).join('/') };
  return { kind: 'other' };
}

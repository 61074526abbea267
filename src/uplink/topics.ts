/**
 * Topic layout, version 1 (docs/telemetry.md is the contract):
 *   motobio/v1/{device}/data/{priority}   batches of records, QoS 1, not retained
 *   motobio/v1/{device}/status/{link}     retained {"state":"online"|"offline",...}, last will "offline"
 *   motobio/v1/{device}/cmd/#             downlink commands to the unit
 * A server subscribes `$share/{group}/motobio/v1/+/data/#` to spread devices over workers.
 */
import type { Priority } from '../store/types.js';

export const TOPIC_ROOT = 'motobio/v1';

export const dataTopic = (device: string, priority: Priority): string => `${TOPIC_ROOT}/${device}/data/${priority}`;
export const statusTopic = (device: string, link: string): string => `${TOPIC_ROOT}/${device}/status/${link}`;
export const commandTopic = (device: string): string => `${TOPIC_ROOT}/${device}/cmd/#`;
export const allDataFilter = (device = '+'): string => `${TOPIC_ROOT}/${device}/data/#`;
export const allStatusFilter = (device = '+'): string => `${TOPIC_ROOT}/${device}/status/+`;
export const sharedFilter = (group: string, filter: string): string => `$share/${group}/${filter}`;

export type ParsedTopic =
  | { kind: 'data'; device: string; priority: string }
  | { kind: 'status'; device: string; link: string }
  | { kind: 'cmd'; device: string; rest: string }
  | { kind: 'other' };

export function parseTopic(topic: string): ParsedTopic {
  const parts = topic.split('/');
  if (parts.length < 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return { kind: 'other' };
  const device = parts[2];
  if (parts[3] === 'data' && parts.length === 5) return { kind: 'data', device, priority: parts[4] };
  if (parts[3] === 'status' && parts.length === 5) return { kind: 'status', device, link: parts[4] };
  if (parts[3] === 'cmd') return { kind: 'cmd', device, rest: parts.slice(4).join('/') };
  return { kind: 'other' };
}

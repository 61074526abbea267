/** The configuration's link settings (snake_case, nested tls, paths already absolute) as a LinkConfig. */
import type { LinkSettings } from '../config/schema.js';
import type { LinkConfig } from './link.js';

export function linkFromConfig(l: LinkSettings): LinkConfig {
  return {
    name: l.name,
    url: l.url,
    ...(l.username !== undefined ? { username: l.username } : {}),
    ...(l.password !== undefined ? { password: l.password } : {}),
    ...(l.tls?.ca ? { ca: l.tls.ca } : {}),
    ...(l.tls?.cert ? { cert: l.tls.cert } : {}),
    ...(l.tls?.key ? { key: l.tls.key } : {}),
    ...(l.tls?.servername ? { servername: l.tls.servername } : {}),
    ...(l.bind_address ? { localAddress: l.bind_address } : {}),
    keepaliveS: l.keepalive_s,
  };
}

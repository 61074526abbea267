/** Maps the configuration file's link settings (snake_case, nested tls) onto a LinkConfig. */
import type { LinkConfig } from './link.js';

export interface ConfigLink {
  name: string;
  url: string;
  username?: string;
  password?: string;
  tls?: { ca?: string; cert?: string; key?: string; servername?: string };
  bind_address?: string;
  keepalive_s?: number;
}

export function linkFromConfig(l: ConfigLink, resolve: (p: string) => string = (p) => p): LinkConfig {
  return {
    name: l.name,
    url: l.url,
    ...(l.username !== undefined ? { username: l.username } : {}),
    ...(l.password !== undefined ? { password: l.password } : {}),
    ...(l.tls?.ca ? { ca: resolve(l.tls.ca) } : {}),
    ...(l.tls?.cert ? { cert: resolve(l.tls.cert) } : {}),
    ...(l.tls?.key ? { key: resolve(l.tls.key) } : {}),
    ...(l.tls?.servername ? { servername: l.tls.servername } : {}),
    ...(l.bind_address ? { localAddress: l.bind_address } : {}),
    ...(l.keepalive_s !== undefined ? { keepaliveS: l.keepalive_s } : {}),
  };
}

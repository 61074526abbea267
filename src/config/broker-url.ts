/**
 * The one rule for a broker URL, used by the configuration schema and by the link itself:
 * mqtt:// (plain TCP, port 1883 by default) or mqtts:// (TLS, 8883), a host, and no
 * user:password in it (credentials have their own settings, so they never reach a log).
 */
export interface BrokerAddress {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
}

export const BROKER_URL_RULE = 'a mqtt:// or mqtts:// URL with a host and no user:password in it (use username and password), e.g. mqtts://broker.example:8883';

/** The address, or the reason the URL breaks the rule. */
export function parseBrokerUrl(url: string): BrokerAddress | { error: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { error: 'is not a URL' };
  }
  if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:') return { error: `scheme "${u.protocol}" is not supported` };
  if (u.hostname === '') return { error: 'has no host' };
  if (u.username !== '' || u.password !== '') return { error: 'carries a user or password' };
  const secure = u.protocol === 'mqtts:';
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : secure ? 8883 : 1883, secure };
}

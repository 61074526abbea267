/**
 * Turns Node's TLS failures into messages an installer can act on: which side refused what,
 * and what to change. The codes are Node's (OpenSSL verify results, ERR_TLS_*) and, for a
 * refusal by the broker, the TLS alert it sent (ERR_SSL_SSLV3_ALERT_* / ERR_SSL_TLSV1_ALERT_*).
 * There is no fallback: an mqtts link that fails TLS stays down, whatever the reason.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type TlsFailureKind =
  | 'untrusted-ca'
  | 'server-cert-expired'
  | 'server-cert-not-yet-valid'
  | 'wrong-host'
  | 'client-cert-expired'
  | 'client-cert-rejected'
  | 'client-cert-required'
  | 'not-tls';

export interface TlsFailure {
  readonly kind: TlsFailureKind;
  /** The Node/OpenSSL code or alert it was classified from. */
  readonly code: string;
  readonly message: string;
}

export interface TlsContext {
  /** Host the URL names (what the certificate must carry unless `servername` is set). */
  readonly host: string;
  readonly servername?: string;
  readonly ca?: string;
  readonly cert?: string;
  /** Whether the TLS handshake had completed when the error came. */
  readonly handshakeDone?: boolean;
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_CHAIN_TOO_LONG',
]);

/** Validity of a PEM certificate file, when it can be read. */
function validity(path: string | undefined): { from: Date; to: Date } | undefined {
  if (!path) return undefined;
  try {
    const c = new X509Certificate(readFileSync(path));
    return { from: new Date(c.validFrom), to: new Date(c.validTo) };
  } catch {
    return undefined;
  }
}

const nowIso = () => new Date().toISOString().slice(0, 19) + 'Z';

/** Classifies a TLS error; undefined when it is not a TLS refusal (a reset, a timeout, DNS). */
export function classifyTlsError(e: unknown, ctx: TlsContext): TlsFailure | undefined {
  const err = e as { code?: unknown; message?: unknown; reason?: unknown };
  const code = typeof err?.code === 'string' ? err.code : '';
  const text = `${typeof err?.message === 'string' ? err.message : String(e)}`;
  const name = ctx.servername ?? ctx.host;
  const caHint = ctx.ca ? `tls.ca (${ctx.ca})` : 'tls.ca (unset: the system CAs are used)';
  const mk = (kind: TlsFailureKind, message: string): TlsFailure => ({ kind, code: code || text, message: `TLS refused (${kind}, ${code || 'alert'}): ${message}` });

  if (UNTRUSTED.has(code)) {
    const self = code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ? ' (the broker presents a self-signed certificate)' : '';
    return mk('untrusted-ca', `the broker's certificate is not signed by a CA this unit trusts${self}; set ${caHint} to the CA that signed the broker's certificate`);
  }
  if (code === 'CERT_HAS_EXPIRED') {
    return mk('server-cert-expired', `the broker's certificate has expired (this unit's clock says ${nowIso()}); renew the broker certificate, or fix this unit's clock if it is wrong`);
  }
  if (code === 'CERT_NOT_YET_VALID') {
    return mk('server-cert-not-yet-valid', `the broker's certificate is not valid yet (this unit's clock says ${nowIso()}); if the clock is behind, let it sync (NTP/GNSS) and the link will connect; otherwise the certificate was issued with a future start date`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const why = typeof err.reason === 'string' ? ` (${err.reason})` : '';
    return mk('wrong-host', `the broker's certificate does not name "${name}"${why}; use the host name the certificate carries in the URL, or set tls.servername to it`);
  }
  const alert = /alert (certificate expired|certificate unknown|bad certificate|unknown ca|certificate required|certificate revoked|handshake failure|decrypt error)/i.exec(text)?.[1]?.toLowerCase();
  const own = validity(ctx.cert);
  if (code === 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED' || alert === 'certificate expired') {
    const when = own ? ` (tls.cert ${ctx.cert} is valid ${own.from.toISOString()} to ${own.to.toISOString()}; now ${nowIso()})` : '';
    return mk('client-cert-expired', `the broker refused this unit's client certificate as expired${when}; issue a new client certificate for this unit and install it as tls.cert/tls.key`);
  }
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' || alert === 'certificate required' || (!ctx.cert && alert !== undefined && /certificate|handshake/.test(alert))) {
    if (!ctx.cert) return mk('client-cert-required', `the broker wants a client certificate and this link has none; set tls.cert and tls.key`);
  }
  if (
    alert !== undefined ||
    code === 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN' ||
    code === 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' ||
    code === 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' ||
    code === 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED'
  ) {
    if (own && own.to.getTime() < Date.now()) {
      return mk('client-cert-expired', `the broker refused this unit's client certificate ("${alert ?? code}"); tls.cert ${ctx.cert} expired on ${own.to.toISOString()}: issue a new one`);
    }
    if (own && own.from.getTime() > Date.now()) {
      return mk('client-cert-rejected', `the broker refused this unit's client certificate ("${alert ?? code}"); tls.cert ${ctx.cert} is valid only from ${own.from.toISOString()} (now ${nowIso()}): fix the clock or the certificate`);
    }
    return mk('client-cert-rejected', `the broker refused this unit's client certificate ("${alert ?? code}"): it is not signed by a CA the broker trusts, or it was revoked; install a client certificate from the fleet CA as tls.cert/tls.key`);
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || /wrong version number|packet length too long|unknown protocol/i.test(text)) {
    return mk('not-tls', `the port did not answer with TLS (a plaintext listener?); mqtts never falls back to plaintext: point the URL at the broker's TLS port`);
  }
  if ((code === 'ECONNRESET' || code === 'EPIPE') && ctx.handshakeDone === false) {
    return mk('not-tls', `the connection was reset during the TLS handshake: the port does not speak TLS (a plaintext listener?) or the broker dropped the handshake; mqtts never falls back to plaintext: point the URL at the broker's TLS port and check the broker's log`);
  }
  return undefined;
}

/** The error's message, classified when it is a TLS refusal. */
export function describeConnectError(e: unknown, ctx: TlsContext | undefined): string {
  const t = ctx ? classifyTlsError(e, ctx) : undefined;
  if (t) return t.message;
  return e instanceof Error ? e.message : String(e);
}

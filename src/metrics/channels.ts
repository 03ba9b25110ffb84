import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * Domain events published on node:diagnostics_channel by the listeners and the certificate
 * manager, for metrics and logs to subscribe to (the pattern of undici's lib/core/diagnostics.js).
 * This module holds only names, message types and publish helpers, so that any layer may import
 * it without pulling in prom-client.
 *
 * Channels are process-wide by name: two servers in one process publish on the same channels, and
 * every subscriber sees both. Publishing costs nothing while nobody subscribes; the helpers check
 * `hasSubscribers` first.
 *
 * Labels derived from these messages must stay bounded: publishers pass configured values (a
 * site's configured address, never the request's Host header or path).
 */

/** One request answered by a site. Message: HttpRequestEvent. */
export const HTTP_REQUEST_CHANNEL = 'my-server:http:request';
/** One TLS handshake finished or failed. Message: TlsHandshakeEvent. */
export const TLS_HANDSHAKE_CHANNEL = 'my-server:tls:handshake';
/** A certificate was installed for serving (from storage or freshly obtained). Message: CertLoadedEvent. */
export const CERT_LOADED_CHANNEL = 'my-server:cert:loaded';
/** An issuer (ACME or the local CA) produced a new certificate. Message: CertObtainedEvent. */
export const CERT_OBTAINED_CHANNEL = 'my-server:cert:obtained';

export interface HttpRequestEvent {
  /** The site's configured label (its address as written in the Proxyfile). */
  readonly site: string;
  /** The request method as received; metrics fold unknown methods into OTHER. */
  readonly method: string;
  /** The status sent to the client. */
  readonly status: number;
  /** From the request's arrival to the end of the response. */
  readonly durationMs: number;
}

export interface TlsHandshakeEvent {
  readonly result: 'ok' | 'error';
  /** The SNI sent by the client, for logs only: it is never a metric label. */
  readonly servername?: string;
  /** tlsSocket.getProtocol(), e.g. "TLSv1.3", when known. */
  readonly protocol?: string;
}

export interface CertLoadedEvent {
  /** The managed name (or on-demand name) the certificate serves. */
  readonly name: string;
  readonly notAfter: Date;
}

export interface CertObtainedEvent {
  readonly names: readonly string[];
  /** The issuer's id (Issuer.id): the ACME directory URL, or "local". Bounded by the config. */
  readonly issuer: string;
}

export const httpRequestChannel = diagnosticsChannel.channel(HTTP_REQUEST_CHANNEL);
export const tlsHandshakeChannel = diagnosticsChannel.channel(TLS_HANDSHAKE_CHANNEL);
export const certLoadedChannel = diagnosticsChannel.channel(CERT_LOADED_CHANNEL);
export const certObtainedChannel = diagnosticsChannel.channel(CERT_OBTAINED_CHANNEL);

export function publishHttpRequest(event: HttpRequestEvent): void {
  if (httpRequestChannel.hasSubscribers) httpRequestChannel.publish(event);
}

export function publishTlsHandshake(event: TlsHandshakeEvent): void {
  if (tlsHandshakeChannel.hasSubscribers) tlsHandshakeChannel.publish(event);
}

export function publishCertLoaded(event: CertLoadedEvent): void {
  if (certLoadedChannel.hasSubscribers) certLoadedChannel.publish(event);
}

export function publishCertObtained(event: CertObtainedEvent): void {
  if (certObtainedChannel.hasSubscribers) certObtainedChannel.publish(event);
}

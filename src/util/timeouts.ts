/**
 * Timeouts for a public-facing listener (Node's defaults suit a trusted network): a client gets
 * 30 s to finish the TLS handshake (Node: 120 s; long enough for a first on-demand handshake that
 * waits for issuance, which the certificate manager bounds at 25 s) and 20 s to send request
 * headers (Node: 60 s; slowloris); an idle keep-alive connection is kept 60 s (Node: 5 s, which
 * makes browsers reconnect needlessly); a connection with no traffic at all is closed after 2 min.
 */
export const TIMEOUTS = {
  handshakeMs: 30_000,
  headersMs: 20_000,
  keepAliveMs: 60_000,
  idleMs: 120_000,
} as const;

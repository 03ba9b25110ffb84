/** Default values, from SPEC.md's Proxyfile section and, where it is silent, the Caddyfile's. */
import type { ReverseProxyConfig, UpstreamConfig } from './types.ts';

export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

export const GLOBAL_DEFAULTS = {
  acmeCa: LETS_ENCRYPT_DIRECTORY,
  localCerts: false,
  httpPort: 80,
  httpsPort: 443,
  autoHttps: 'on',
  admin: { address: 'localhost:2019' },
  keyType: 'p256',
  gracePeriodMs: 30_000,
  logOutput: 'stderr',
  logLevel: 'info',
  redisPrefix: 'my-server',
} as const;

/**
 * A `servers` block's values when it does not set them, as Caddy's: no trusted proxies (the peer
 * is the client), X-Forwarded-For as the client IP header, h1 h2 h3 offered.
 */
export const SERVER_DEFAULTS = {
  trustedProxiesStrict: false,
  clientIpHeaders: ['X-Forwarded-For'],
  protocols: ['h1', 'h2', 'h3'],
  logCredentials: false,
  enableFullDuplex: false,
} as const;

/**
 * Caddy's reverse_proxy defaults, in the config's own shape: the one table of them. Random
 * policy; no retries (250ms apart once lb_retries or lb_try_duration enables them); active checks
 * off until health_uri is given, then every 30s with a 5s timeout expecting 2xx; passive checks
 * off; 3s dial timeout; idle connections kept 2m; no response-header or read timeout.
 */
export const PROXY_DEFAULTS: Omit<ReverseProxyConfig, 'upstreams'> = {
  lb: { policy: 'random', retries: 0, tryDurationMs: 0, tryIntervalMs: 250 },
  health: { intervalMs: 30_000, timeoutMs: 5_000, status: '2xx' },
  passive: { failDurationMs: 0, maxFails: 1, unhealthyStatus: [] },
  headerUp: [],
  headerDown: [],
  transport: { dialTimeoutMs: 3_000, tls: false, tlsInsecureSkipVerify: false, keepAliveMs: 120_000 },
};

/** A reverse_proxy with every default and these upstreams (a fresh object the caller may change). */
export function reverseProxyDefaults(upstreams: readonly UpstreamConfig[]): ReverseProxyConfig {
  return { ...structuredClone(PROXY_DEFAULTS), upstreams };
}

export const REDIR_DEFAULT_STATUS = 302;
export const RESPOND_DEFAULT_STATUS = 200;
/** `encode` with no formats: zstd preferred, then gzip. */
export const ENCODE_DEFAULTS: readonly ('zstd' | 'gzip')[] = ['zstd', 'gzip'];

/** Default values, from SPEC.md's Proxyfile section and, where it is silent, the Caddyfile's. */

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

/** Caddy's reverse_proxy defaults. */
export const PROXY_DEFAULTS = {
  lbPolicy: 'random',
  lbRetries: 0,
  lbTryDurationMs: 0,
  lbTryIntervalMs: 250,
  healthIntervalMs: 30_000,
  healthTimeoutMs: 5_000,
  healthStatus: '2xx',
  failDurationMs: 0,
  maxFails: 1,
  dialTimeoutMs: 3_000,
  keepAliveMs: 120_000,
} as const;

export const REDIR_DEFAULT_STATUS = 302;
export const RESPOND_DEFAULT_STATUS = 200;
/** `encode` with no formats: zstd preferred, then gzip. */
export const ENCODE_DEFAULTS: readonly ('zstd' | 'gzip')[] = ['zstd', 'gzip'];

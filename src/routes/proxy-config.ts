import type { ReverseProxyRoute, StatusMatch } from '../config/types.ts';
import type { ReverseProxyConfig } from '../proxy/types.ts';

/** The proxy's own input from the config's reverse_proxy route (proxy/ does not know config/). */
export function toProxyConfig(r: ReverseProxyRoute): ReverseProxyConfig {
  return {
    upstreams: r.upstreams.map((u) => ({ scheme: u.scheme, host: u.host, port: u.port, ...(u.path !== undefined ? { path: u.path } : {}) })),
    lbPolicy: { name: r.lb.policy, ...(r.lb.header !== undefined ? { header: r.lb.header } : {}) },
    lbRetries: r.lb.retries,
    lbTryDurationMs: r.lb.tryDurationMs,
    lbTryIntervalMs: r.lb.tryIntervalMs,
    ...(r.health.uri !== undefined
      ? { health: { uri: r.health.uri, intervalMs: r.health.intervalMs, timeoutMs: r.health.timeoutMs, status: r.health.status } }
      : {}),
    passive: {
      failDurationMs: r.passive.failDurationMs,
      maxFails: r.passive.maxFails,
      unhealthyStatus: r.passive.unhealthyStatus.flatMap(expandStatus),
    },
    headerUp: r.headerUp,
    headerDown: r.headerDown,
    ...(r.flushIntervalMs !== undefined ? { flushIntervalMs: r.flushIntervalMs } : {}),
    // The same shape on both sides, field for field.
    transport: r.transport,
  };
}

/** `5xx` → 500..599, for the proxy's set of unhealthy codes. */
function expandStatus(s: StatusMatch): number[] {
  if (typeof s === 'number') return [s];
  const base = Number(s[0]) * 100;
  return Array.from({ length: 100 }, (_, i) => base + i);
}

/**
 * The DNS-01 module's surface for the runtime (app/stack.ts): a solver map with DNS-01 for one
 * site's settings, and the key that tells two settings apart.
 */
import type { Solver } from '../acme/solver.ts';
import type { DnsChallengeConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/storage.ts';
import { createDnsProvider } from './providers.ts';
import { Dns01Solver } from './solver.ts';
import { parseServer, type DnsServer } from './wire.ts';

export { Dns01Solver } from './solver.ts';

/**
 * `base` plus a DNS-01 solver for `dns` (which must name a provider). Its records left behind by an
 * earlier run are removed in the background. Throws (MS_ERR_CONFIG) when the provider cannot be
 * made, e.g. a `{env.VAR}` secret that is not set.
 */
export function withDns01(base: ReadonlyMap<string, Solver>, dns: DnsChallengeConfig, o: { storage: Storage; log: Logger }): Map<string, Solver> {
  if (dns.provider === undefined) throw new Error('withDns01: no DNS provider');
  const { provider, identity } = createDnsProvider(dns.provider);
  const resolvers = (dns.resolvers ?? []).flatMap((r): DnsServer[] => {
    const s = parseServer(r);
    return s === undefined ? [] : [s];
  });
  const log = o.log.child({ logger: 'dns-01' });
  const solver = new Dns01Solver({
    provider,
    identity,
    storage: o.storage,
    log,
    ...(resolvers.length > 0 ? { resolvers } : {}),
    ...(dns.propagationDelayMs !== undefined ? { propagationDelayMs: dns.propagationDelayMs } : {}),
    ...(dns.propagationTimeoutMs !== undefined ? { propagationTimeoutMs: dns.propagationTimeoutMs } : {}),
    ...(dns.ttlSeconds !== undefined ? { ttlSeconds: dns.ttlSeconds } : {}),
  });
  solver.cleanupLeftovers().then(
    (n) => {
      if (n > 0) log.info({ removed: n, provider: provider.name }, 'removed DNS-01 records left by an earlier run');
    },
    (err: unknown) => log.warn({ err, provider: provider.name }, 'looking for DNS-01 records left by an earlier run failed'),
  );
  return new Map([...base, ['dns-01', solver]]);
}

/** Equal for settings that make the same solver (positions aside). */
export function dnsSettingsKey(dns: DnsChallengeConfig | undefined): string {
  if (dns === undefined) return '';
  return JSON.stringify(dns, (k: string, v: unknown) => (k === 'pos' ? undefined : v));
}

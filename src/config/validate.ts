/**
 * Cross-field checks on an adapted Config, all reported in one pass:
 * - on-demand sites need the global `on_demand_tls { ask URL }` policy;
 * - catch-all HTTPS addresses (`https://`, `:443`) need `tls { on_demand }`;
 * - a site address appears once (by protocol, host and port);
 * - a written scheme agrees with the port (`http://x:443`, `https://x:80` are contradictions);
 * - `http_port` and `https_port` differ;
 * - a public wildcard served by ACME has a DNS provider (directives/dns.ts).
 * Single values (ports 1-65535, durations, URLs) were checked where they were parsed.
 */
import { issuerFor } from './adapt.ts';
import { wildcardWithoutProvider } from './directives/dns.ts';
import { configError, type IssueCollector } from './errors.ts';
import type { Config, Pos } from './types.ts';

export function validate(config: Config, onDemandPositions: ReadonlyMap<number, Pos>, issues: IssueCollector): void {
  const g = config.globals;
  if (g.httpPort === g.httpsPort) {
    const at = g.sources.https_port ?? g.sources.http_port;
    if (at !== undefined) issues.add(configError(at, `http_port and https_port are both ${g.httpPort}`));
  }

  const seen = new Map<string, Pos>();
  config.sites.forEach((site, index) => {
    const onDemandPos = onDemandPositions.get(index);
    if (site.tls.onDemand && g.onDemandTls?.ask === undefined && onDemandPos !== undefined) {
      issues.add(configError(onDemandPos, 'on-demand TLS needs the global option on_demand_tls { ask URL }'));
    }
    for (const address of site.addresses) {
      if (address.scheme === 'http' && address.port === g.httpsPort) {
        issues.add(configError(address.pos, `site address "${address.original}" uses http:// with the HTTPS port ${g.httpsPort}`));
      }
      if (address.scheme === 'https' && address.port === g.httpPort) {
        issues.add(configError(address.pos, `site address "${address.original}" uses https:// with the HTTP port ${g.httpPort}`));
      }
      if (address.host === '' && address.protocol === 'https' && !site.tls.onDemand) {
        issues.add(
          configError(address.pos, `site address "${address.original}" serves any name over HTTPS and needs tls { on_demand }`),
        );
      }
      const wildcard = wildcardWithoutProvider(site, address, g, issuerFor(site, g, address.host)?.kind === 'acme');
      if (wildcard !== undefined) issues.add(wildcard);
      const key = `${address.protocol}://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.listenPort}`;
      const prev = seen.get(key);
      if (prev !== undefined) {
        issues.add(
          configError(address.pos, `duplicate site address "${address.original}" (also at ${prev.file}:${prev.line}:${prev.col})`),
        );
      } else {
        seen.set(key, address.pos);
      }
    }
  });
}

/**
 * Drafts → Config: fills in defaults (defaults.ts), resolves how each address is served, applies
 * `local_certs`, and sorts routes into the Caddyfile's directive order.
 */
import type { ParsedAddress } from './address.ts';
import { GLOBAL_DEFAULTS } from './defaults.ts';
import type { AccessLogDraft, GlobalsDraft, RouteDraft, SiteDraft, TlsDraft } from './draft.ts';
import type { AccessLogConfig, Config, GlobalOptions, Route, SiteAddress, SiteConfig, TlsConfig } from './types.ts';

export function adapt(globals: GlobalsDraft, sites: readonly SiteDraft[], files: readonly string[]): Config {
  const g = adaptGlobals(globals);
  return { globals: g, sites: sites.map((site) => adaptSite(site, g)), files: [...files] };
}

function adaptGlobals(d: GlobalsDraft): GlobalOptions {
  return {
    ...(d.email !== undefined ? { email: d.email } : {}),
    acmeCa: d.acmeCa ?? GLOBAL_DEFAULTS.acmeCa,
    ...(d.acmeCaRoot !== undefined ? { acmeCaRoot: d.acmeCaRoot } : {}),
    ...(d.acmeEab !== undefined ? { acmeEab: d.acmeEab } : {}),
    localCerts: d.localCerts ?? GLOBAL_DEFAULTS.localCerts,
    storage: d.storage ?? { kind: 'file' },
    httpPort: d.httpPort ?? GLOBAL_DEFAULTS.httpPort,
    httpsPort: d.httpsPort ?? GLOBAL_DEFAULTS.httpsPort,
    defaultBind: d.defaultBind ?? [],
    autoHttps: d.autoHttps ?? GLOBAL_DEFAULTS.autoHttps,
    admin: d.admin ?? { ...GLOBAL_DEFAULTS.admin },
    ...(d.onDemandTls !== undefined ? { onDemandTls: d.onDemandTls } : {}),
    keyType: d.keyType ?? GLOBAL_DEFAULTS.keyType,
    ...(d.certLifetimeMs !== undefined ? { certLifetimeMs: d.certLifetimeMs } : {}),
    ...(d.acmeProfile !== undefined ? { acmeProfile: d.acmeProfile } : {}),
    gracePeriodMs: d.gracePeriodMs ?? GLOBAL_DEFAULTS.gracePeriodMs,
    log: {
      output: d.log?.output ?? { kind: GLOBAL_DEFAULTS.logOutput },
      ...(d.log?.format !== undefined ? { format: d.log.format } : {}),
      level: d.log?.level ?? GLOBAL_DEFAULTS.logLevel,
    },
    sources: d.sources,
  };
}

function adaptSite(site: SiteDraft, g: GlobalOptions): SiteConfig {
  return {
    pos: site.pos,
    addresses: site.addresses.map((a) => resolveAddress(a, g)),
    tls: adaptTls(site.tls, g),
    routes: sortRoutes(site.routes.map(adaptRoute)),
    ...(site.log !== undefined ? { log: adaptAccessLog(site.log) } : {}),
  };
}

/**
 * The Caddyfile's rules: a written scheme wins; otherwise the HTTP port means HTTP, the HTTPS port
 * HTTPS, and any other port HTTPS when a host is named (`localhost:8080`) and HTTP when not (`:8080`).
 */
export function resolveAddress(a: ParsedAddress, g: Pick<GlobalOptions, 'httpPort' | 'httpsPort'>): SiteAddress {
  const listenPort = a.port ?? (a.scheme === 'http' ? g.httpPort : g.httpsPort);
  const protocol =
    a.scheme ?? (listenPort === g.httpPort ? 'http' : listenPort === g.httpsPort ? 'https' : a.host !== '' ? 'https' : 'http');
  return { ...a, protocol, listenPort };
}

function adaptTls(d: TlsDraft | undefined, g: GlobalOptions): TlsConfig {
  const mode = d?.mode ?? 'auto';
  return {
    mode: mode === 'auto' && g.localCerts ? 'internal' : mode,
    ...(d?.email !== undefined ? { email: d.email } : {}),
    ...(d?.certFile !== undefined ? { certFile: d.certFile } : {}),
    ...(d?.keyFile !== undefined ? { keyFile: d.keyFile } : {}),
    onDemand: d?.onDemand ?? false,
    ...(d?.issuer !== undefined ? { issuer: d.issuer } : {}),
    ...(d?.ca !== undefined ? { ca: d.ca } : {}),
    ...(d?.keyType !== undefined ? { keyType: d.keyType } : {}),
    ...(d?.challenges !== undefined ? { challenges: d.challenges } : {}),
    ...(d?.pos !== undefined ? { pos: d.pos } : {}),
  };
}

function adaptAccessLog(d: AccessLogDraft): AccessLogConfig {
  return {
    output: d.output ?? { kind: GLOBAL_DEFAULTS.logOutput },
    ...(d.format !== undefined ? { format: d.format } : {}),
    level: d.level ?? GLOBAL_DEFAULTS.logLevel,
    pos: d.pos,
  };
}

/** reverse_proxy comes from its parser complete, defaults included: only handle blocks change. */
function adaptRoute(r: RouteDraft): Route {
  if (r.kind === 'handle') {
    const { routes, ...rest } = r;
    return { ...rest, routes: sortRoutes(routes.map(adaptRoute)) };
  }
  return r;
}

/** The Caddyfile's default directive order, for the directives a Proxyfile has. */
const ORDER: Readonly<Record<Route['kind'], number>> = {
  header: 0,
  redir: 1,
  encode: 2,
  handle: 3,
  respond: 4,
  reverse_proxy: 5,
};

/**
 * Stable sort with the Caddyfile adapter's rules: by directive; same directives with one path
 * each by specificity (longer first; `/foo` before `/foo*`); otherwise a matcher before none.
 */
export function sortRoutes(routes: readonly Route[]): Route[] {
  return [...routes].sort((a, b) => {
    if (a.kind !== b.kind) return ORDER[a.kind] - ORDER[b.kind];
    return specificityFirst(a, b);
  });
}

function specificityFirst(a: Route, b: Route): number {
  const pa = a.matcher?.path;
  const pb = b.matcher?.path;
  if (pa !== undefined && pb !== undefined) {
    if (pa.replace(/\*$/, '') === pb.replace(/\*$/, '')) return pa.length - pb.length;
    return pb.length - pa.length;
  }
  if (pa !== undefined && pb === undefined) return -1;
  if (pa === undefined && pb !== undefined) return 1;
  return 0;
}

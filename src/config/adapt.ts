/**
 * Drafts → Config: fills in defaults (defaults.ts), resolves how each address is served, applies
 * `local_certs`, and sorts routes into the Caddyfile's directive order. Also the one issuer policy
 * (`siteFor`, `issuerFor`) that `run` and every `certs` command apply to the adapted config.
 */
import { BlockList, isIP } from 'node:net';
import type { ParsedAddress } from './address.ts';
import { GLOBAL_DEFAULTS } from './defaults.ts';
import type { AccessLogDraft, GlobalsDraft, RouteDraft, SiteDraft, TlsDraft } from './draft.ts';
import { dnsChallengeFor } from './directives/dns.ts';
import type { AccessLogConfig, Challenge, Config, DnsChallengeConfig, GlobalOptions, Route, SiteAddress, SiteConfig, TlsConfig } from './types.ts';
import { directiveOrder, sortRoutes } from './directive-order.ts';

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
    ...(d.acmeDns !== undefined ? { acmeDns: d.acmeDns } : {}),
    keyType: d.keyType ?? GLOBAL_DEFAULTS.keyType,
    ...(d.certLifetimeMs !== undefined ? { certLifetimeMs: d.certLifetimeMs } : {}),
    ...(d.acmeProfile !== undefined ? { acmeProfile: d.acmeProfile } : {}),
    gracePeriodMs: d.gracePeriodMs ?? GLOBAL_DEFAULTS.gracePeriodMs,
    ...pick(d, ['shutdownDelayMs', 'metrics', 'defaultSni', 'fallbackSni', 'disableCerts', 'challenges', 'preferredChains', 'workers']),
    log: {
      ...d.log,
      output: d.log?.output ?? { kind: GLOBAL_DEFAULTS.logOutput },
      level: d.log?.level ?? GLOBAL_DEFAULTS.logLevel,
    },
    ...(d.loggers !== undefined ? { loggers: d.loggers } : {}),
    ...(d.servers !== undefined ? { servers: d.servers } : {}),
    ...(d.order !== undefined ? { order: d.order } : {}),
    sources: d.sources,
  };
}

function adaptSite(site: SiteDraft, g: GlobalOptions): SiteConfig {
  const sorter = routeSorter(directiveOrder(g.order));
  return {
    pos: site.pos,
    addresses: site.addresses.map((a) => resolveAddress(a, g)),
    tls: adaptTls(site.tls, g),
    routes: sorter(site.routes),
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

/** `local_certs` makes the automatic choice the local CA, for every site and every name. */
const automatic = (g: GlobalOptions): TlsConfig['mode'] => (g.localCerts ? 'internal' : 'auto');

function adaptTls(d: TlsDraft | undefined, g: GlobalOptions): TlsConfig {
  const mode = d?.mode ?? 'auto';
  return {
    mode: mode === 'auto' ? automatic(g) : mode,
    ...(d?.email !== undefined ? { email: d.email } : {}),
    ...(d?.certFile !== undefined ? { certFile: d.certFile } : {}),
    ...(d?.keyFile !== undefined ? { keyFile: d.keyFile } : {}),
    onDemand: d?.onDemand ?? false,
    ...(d?.ca !== undefined ? { ca: d.ca } : {}),
    ...(d !== undefined ? pick(d, ['profile', 'eab', 'preferredChains']) : {}),
    ...(d?.keyType !== undefined ? { keyType: d.keyType } : {}),
    ...(d?.challenges !== undefined ? { challenges: d.challenges } : {}),
    ...(d?.dns !== undefined ? { dns: d.dns } : {}),
    ...(d?.pos !== undefined ? { pos: d.pos } : {}),
  };
}

/** Which issuer serves a name: the built-in local CA, or an ACME CA with the account and challenges to use. */
export type IssuerChoice =
  | { readonly kind: 'internal' }
  | {
      readonly kind: 'acme';
      readonly ca: string;
      readonly email?: string;
      readonly challenges?: readonly Challenge[];
      /** The site's own (`issuer acme { profile eab preferred_chains }`); absent: the globals' apply. */
      readonly profile?: string;
      readonly eab?: TlsConfig['eab'];
      readonly preferredChains?: TlsConfig['preferredChains'];
      /** DNS-01 with this provider (then the only challenge, as in Caddy); never for an IP address (RFC 8738 §7). */
      readonly dns?: DnsChallengeConfig;
    };

/**
 * The issuer policy, the only place that decides it (SPEC "Behaviour every user can count on"):
 * the site's `tls` setting first (`tls internal`, `issuer`, `ca`, `tls EMAIL`; `local_certs` already
 * turned `auto` into `internal` in adaptTls), then by name: local-only names get the local CA, others
 * ACME with the site's CA and email, else the globals'. `site` undefined: a name no site serves
 * (`certs obtain` of any name), judged by the globals alone. Undefined for a site serving its own
 * certificate files (`tls CERT KEY`): my-server issues nothing for it. `override` is
 * `certs obtain --issuer`, which replaces the choice but keeps the site's CA and email for ACME.
 */
export function issuerFor(site: SiteConfig | undefined, globals: GlobalOptions, name: string, override?: 'acme' | 'internal'): IssuerChoice | undefined {
  const t = site?.tls;
  const mode = override ?? t?.mode ?? automatic(globals);
  if (mode === 'manual') return undefined;
  if (mode === 'internal' || (mode === 'auto' && isLocalOnlyName(name))) return { kind: 'internal' };
  const email = t?.email ?? globals.email;
  const challenges = t?.challenges ?? globals.challenges;
  const dns = isIP(name) === 0 ? dnsChallengeFor(site, globals) : undefined;
  return {
    kind: 'acme',
    ca: t?.ca ?? globals.acmeCa,
    ...(email !== undefined ? { email } : {}),
    ...(dns !== undefined ? { challenges: ['dns-01'], dns } : challenges !== undefined ? { challenges } : {}),
    ...(t !== undefined ? pick(t, ['profile', 'eab', 'preferredChains']) : {}),
  };
}

/** The keys of `o` among `keys` whose values are defined (exactOptionalPropertyTypes-safe spreading). */
function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * The site whose certificate serves `name` (normalised): an HTTPS address with exactly that host,
 * else a wildcard one label up (`*.example.com` covers `a.example.com`, not `a.b.example.com`), else
 * a catch-all (`https://`, `:443`). Undefined when no site has HTTPS for it.
 */
export function siteFor(config: Config, name: string): SiteConfig | undefined {
  let wildcard: SiteConfig | undefined;
  let any: SiteConfig | undefined;
  const dot = name.indexOf('.');
  const parent = dot > 0 ? name.slice(dot) : undefined;
  for (const site of config.sites) {
    for (const a of site.addresses) {
      if (a.protocol !== 'https') continue;
      if (a.host === name) return site;
      if (a.wildcard && parent !== undefined && a.host === `*${parent}`) wildcard ??= site;
      if (a.host === '') any ??= site;
    }
  }
  return wildcard ?? any;
}

const LOCAL_SUFFIXES = ['.localhost', '.internal', '.local', '.home.arpa'];

/** Addresses a CA cannot reach or will not validate (IANA special-purpose registries). */
const NON_PUBLIC_IPS = (() => {
  const list = new BlockList();
  for (const [net, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.168.0.0', 16]] as const) {
    list.addSubnet(net, prefix, 'ipv4');
  }
  for (const [net, prefix] of [['::', 128], ['::1', 128], ['fe80::', 10], ['fc00::', 7]] as const) list.addSubnet(net, prefix, 'ipv6');
  return list;
})();

/**
 * Names no public CA will issue for, so they get the built-in local CA (SPEC.md, "Behaviour every
 * user can count on"): localhost, *.localhost, *.internal, *.local, *.home.arpa, and the IP
 * addresses no CA can validate (loopback, private, shared, link-local, unique-local, unspecified).
 * A public IP address goes to ACME with an IP identifier (RFC 8738), as Let's Encrypt issues them.
 */
export function isLocalOnlyName(name: string): boolean {
  if (name === 'localhost') return true;
  if (isIP(name) !== 0) return NON_PUBLIC_IPS.check(name, isIP(name) === 4 ? 'ipv4' : 'ipv6');
  return LOCAL_SUFFIXES.some((s) => name.endsWith(s));
}

function adaptAccessLog(d: AccessLogDraft): AccessLogConfig {
  return {
    ...d,
    output: d.output ?? { kind: GLOBAL_DEFAULTS.logOutput },
    level: d.level ?? GLOBAL_DEFAULTS.logLevel,
  };
}

/**
 * Routes in run order: each block's directives sorted into Caddy's directive order (directive-order.ts),
 * except inside `route` blocks, which keep the order written. Group names are unique per site.
 */
function routeSorter(order: readonly string[]): (routes: readonly RouteDraft[]) => Route[] {
  const groupIds = { next: 0 };
  const adaptOne = (r: RouteDraft): Route => {
    if (r.kind === 'handle') {
      const { routes, ...rest } = r;
      return { ...rest, routes: sortBlock(routes) };
    }
    if (r.kind === 'reverse_proxy') {
      // handle_response blocks are sorted as handle blocks are (Caddy compiles them as subroutes).
      const { handleResponse, ...rest } = r;
      if (handleResponse === undefined) return rest;
      return { ...rest, handleResponse: handleResponse.map(({ routes, ...h }) => (routes ? { ...h, routes: sortBlock(routes) } : h)) };
    }
    if (r.kind === 'route') {
      const { routes, ...rest } = r;
      return { ...rest, routes: sortRoutes(routes.map(adaptOne), order, groupIds, false) };
    }
    return r;
  };
  const sortBlock = (routes: readonly RouteDraft[]): Route[] => sortRoutes(routes.map(adaptOne), order, groupIds);
  return sortBlock;
}

import { readFile } from 'node:fs/promises';
import tls, { type SecureContext } from 'node:tls';
import type { Config, Route, SiteConfig } from '../config/types.ts';
import { upstreamAddress } from '../proxy/upstream-state.ts';
import type { NamePolicy } from '../certs/manager.ts';
import { issuerFor, type IssuerChoice } from '../config/adapt.ts';
import { MyServerError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { SiteTable } from '../routes/site-table.ts';
import { SiteRouter, type SiteRouterOptions } from '../routes/site-router.ts';
import { wildcardOf } from '../util/host.ts';
import type { KeyType } from '../x509/keys.ts';
import type { Issuer } from '../certs/issuer.ts';
import { ContextCache, type CertificatePems } from '../certs/context-cache.ts';

/** A `tls CERT KEY` pair as read, and the key its context is kept under (the two paths). */
interface ManualCertificate {
  readonly id: string;
  readonly pems: CertificatePems;
}

/** The issuer of each choice adapt.ts `issuerFor` makes (app/stack.ts Issuers). */
export interface IssuerSource {
  for(choice: IssuerChoice): Issuer;
}

/** A listener: protocol, port, and the addresses it binds. */
export interface ListenerKey {
  readonly protocol: 'http' | 'https';
  readonly port: number;
}

export const listenerId = (k: ListenerKey): string => `${k.protocol}:${k.port}`;

/**
 * The listeners a config needs: each site address's protocol and port, in file order, and
 * http_port for HTTP-01 and the redirects whenever there is an HTTPS site (unless auto_https off).
 */
export function listenersOf(config: Config): ListenerKey[] {
  const out = new Map<string, ListenerKey>();
  for (const site of config.sites) {
    for (const a of site.addresses) {
      const key = { protocol: a.protocol, port: a.listenPort } as const;
      if (!out.has(listenerId(key))) out.set(listenerId(key), key);
    }
  }
  const g = config.globals;
  const http = { protocol: 'http', port: g.httpPort } as const;
  if ([...out.values()].some((l) => l.protocol === 'https') && g.autoHttps !== 'off' && !out.has(listenerId(http))) out.set(listenerId(http), http);
  return [...out.values()];
}

/**
 * Everything built from one Config, complete before it is swapped in (a reload that fails to
 * build leaves the running generation untouched): the site tables per listener, the names to
 * manage and how, user-managed certificates, the on-demand coverage.
 */
export class Generation {
  readonly config: Config;
  readonly tables = new Map<string, SiteTable>();
  readonly listeners: ListenerKey[] = [];
  readonly managed = new Map<string, NamePolicy>();
  /** User-managed certificates by site name; their contexts are built and kept by #contexts. */
  readonly manual = new Map<string, ManualCertificate>();
  /**
   * Hot contexts of `tls CERT KEY` certificates, bounded like the manager's (certs/context-cache.ts):
   * a config with 1,000 such sites keeps 1,000 PEM pairs, not 1,000 SSL_CTXs (~43 KiB each).
   */
  #contexts: ContextCache | undefined;
  readonly #manualById = new Map<string, ManualCertificate>();
  readonly manualFiles: string[] = [];
  readonly #onDemand: { site: SiteConfig; policy: (name: string) => NamePolicy }[] = [];
  /** One router per site, shared by every listener the site is on. */
  readonly #routers = new Map<SiteConfig, SiteRouter>();
  /** What every site router gets (the process's metrics for the `metrics` directive). */
  #routerOptions: SiteRouterOptions = {};

  private constructor(config: Config) {
    this.config = config;
  }

  static async build(
    config: Config,
    issuers: IssuerSource,
    log: Logger,
    contextOptions: tls.SecureContextOptions,
    routerOptions: SiteRouterOptions = {},
  ): Promise<Generation> {
    const g = new Generation(config);
    g.#routerOptions = routerOptions;
    try {
      await g.#build(issuers, log, contextOptions);
    } catch (err) {
      // Site tables already made own proxies with health-check timers: stop them.
      await g.close();
      throw err;
    }
    return g;
  }

  async #build(issuers: IssuerSource, log: Logger, contextOptions: tls.SecureContextOptions): Promise<void> {
    const config = this.config;
    this.listeners.push(...listenersOf(config));
    const g2 = config.globals;
    for (const l of this.listeners) {
      this.tables.set(listenerId(l), new SiteTable(config.sites, l.protocol, l.port, log, (site) => this.#routerFor(site, log)));
    }

    for (const site of config.sites) {
      const httpsNames = site.addresses.filter((a) => a.protocol === 'https');
      if (httpsNames.length === 0) continue;
      // User-managed certificates are served whatever auto_https says; it only turns off automation.
      if (site.tls.mode === 'manual') {
        await this.#loadManual(site, contextOptions);
        continue;
      }
      if (g2.autoHttps === 'off' || g2.disableCerts === true) continue;
      const policy = (name: string): NamePolicy => ({ issuer: issuers.for(issuerFor(site, g2, name)!), keyType: (site.tls.keyType ?? g2.keyType) as KeyType });
      if (site.tls.onDemand) {
        this.#onDemand.push({ site, policy });
        continue;
      }
      for (const a of httpsNames) if (a.host !== '') this.managed.set(a.host, policy(a.host));
    }
    // As Caddy 2.10+: a name a managed wildcard covers is served with the wildcard's certificate
    // (the certificate manager looks up the wildcard when the name is not managed itself), so a
    // `*.example.com` site and an `a.example.com` site make one certificate, not two.
    for (const name of [...this.managed.keys()]) {
      const wildcard = wildcardOf(name);
      if (wildcard !== undefined && this.managed.has(wildcard)) this.managed.delete(name);
    }
  }

  /** The policy of the on-demand site that covers `name`, if any (exact, wildcard, then catch-all). */
  onDemandCovers(name: string): NamePolicy | undefined {
    // A wildcard in SNI is no host name; issuing for it would mint (or order) a wildcard certificate.
    if (name.includes('*')) return undefined;
    let wildcard: ((n: string) => NamePolicy) | undefined;
    let any: ((n: string) => NamePolicy) | undefined;
    const covering = wildcardOf(name);
    for (const { site, policy } of this.#onDemand) {
      for (const a of site.addresses) {
        if (a.protocol !== 'https') continue;
        if (a.host === name) return policy(name);
        if (a.wildcard && a.host === covering) wildcard ??= policy;
        if (a.host === '') any ??= policy;
      }
    }
    return (wildcard ?? any)?.(name);
  }

  /** Every upstream of every reverse_proxy, as the proxy names them in its events (host:port). */
  upstreamAddresses(): string[] {
    const out = new Set<string>();
    const walk = (routes: readonly Route[]): void => {
      for (const r of routes) {
        if (r.kind === 'reverse_proxy') for (const u of r.upstreams) out.add(upstreamAddress(u));
        else if (r.kind === 'handle') walk(r.routes);
      }
    };
    for (const site of this.config.sites) walk(site.routes);
    return [...out];
  }

  /** A user-managed certificate for `name`: exact, then a wildcard entry. */
  manualFor(name: string): SecureContext | undefined {
    let found = this.manual.get(name);
    if (found === undefined) {
      const covering = wildcardOf(name);
      if (covering !== undefined) found = this.manual.get(covering);
    }
    return found !== undefined ? this.#contexts?.contextFor(found.id, found.pems) : undefined;
  }

  async #loadManual(site: SiteConfig, contextOptions: tls.SecureContextOptions): Promise<void> {
    const { certFile, keyFile } = site.tls;
    if (certFile === undefined || keyFile === undefined) return;
    const contexts = (this.#contexts ??= new ContextCache({ contextOptions }));
    const id = `${certFile}\n${keyFile}`;
    // Sites naming the same files share one certificate object, so one context serves them all.
    let certificate = this.#manualById.get(id);
    if (certificate !== undefined) {
      for (const a of site.addresses) if (a.protocol === 'https') this.manual.set(a.host, certificate);
      return;
    }
    try {
      const [chainPem, keyPem] = await Promise.all([readFile(certFile), readFile(keyFile)]);
      certificate = { id, pems: { chainPem, keyPem } };
      this.#manualById.set(id, certificate);
      // Built once now (and kept hot until evicted) so a key that does not match its certificate
      // is a config error naming the site, not a failed handshake later.
      contexts.install(id, certificate.pems);
    } catch (err) {
      const at = site.tls.pos ?? site.pos;
      throw new MyServerError('MS_ERR_CONFIG', `${at.file}:${at.line}:${at.col}: loading tls ${certFile} ${keyFile}: ${(err as Error).message}`, { cause: err });
    }
    this.manualFiles.push(certFile, keyFile);
    for (const a of site.addresses) if (a.protocol === 'https') this.manual.set(a.host, certificate);
  }

  #routerFor(site: SiteConfig, log: Logger): SiteRouter {
    let router = this.#routers.get(site);
    if (!router) {
      router = new SiteRouter(site, log, this.#routerOptions);
      this.#routers.set(site, router);
    }
    return router;
  }

  async close(): Promise<void> {
    // Freed a moment later (ContextCache), so a handshake that just got one still installs it.
    this.#contexts?.clear();
    await Promise.all([...this.tables.values()].map((t) => t.close()));
    await Promise.all([...this.#routers.values()].map((r) => r.close()));
  }
}

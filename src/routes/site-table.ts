import type { SiteConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { wildcardOf } from '../util/host.ts';
import { SiteRouter } from './site-router.ts';

/**
 * The sites served on one listener (a protocol and a port), found by request host (lower case,
 * no port: util/host.ts hostWithoutPort): the exact name first, then the wildcard covering one
 * label (`*.example.com` covers `a.example.com`, not `a.b.example.com`: util/host.ts wildcardOf,
 * the rule TLS uses too), then the catch-all site (`:443`, `https://`, `http://`).
 */
export class SiteTable {
  readonly #exact = new Map<string, SiteRouter>();
  readonly #wildcard = new Map<string, SiteRouter>();
  #any: SiteRouter | undefined;
  /** The routers this table made itself (and closes); shared ones belong to whoever passed them. */
  readonly routers: SiteRouter[] = [];

  /**
   * `routerFor` lets several tables share one router per site (a site on two listeners then has one
   * set of proxies, health checks and least_conn counts); without it each table makes its own.
   */
  constructor(sites: readonly SiteConfig[], protocol: 'http' | 'https', port: number, log: Logger, routerFor?: (site: SiteConfig) => SiteRouter) {
    for (const site of sites) {
      const addresses = site.addresses.filter((a) => a.protocol === protocol && a.listenPort === port);
      if (addresses.length === 0) continue;
      let router: SiteRouter;
      if (routerFor) {
        router = routerFor(site);
      } else {
        router = new SiteRouter(site, log);
        this.routers.push(router);
      }
      for (const a of addresses) {
        if (a.host === '') this.#any = router;
        else if (a.wildcard) this.#wildcard.set(a.host, router);
        else this.#exact.set(a.host, router);
      }
    }
  }

  find(host: string): SiteRouter | undefined {
    const exact = this.#exact.get(host);
    if (exact) return exact;
    const wildcard = wildcardOf(host);
    return (wildcard !== undefined ? this.#wildcard.get(wildcard) : undefined) ?? this.#any;
  }

  async close(): Promise<void> {
    await Promise.all(this.routers.map((r) => r.close()));
  }
}

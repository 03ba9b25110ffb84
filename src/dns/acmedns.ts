/**
 * acme-dns (github.com/joohoi/acme-dns): a small DNS server with an HTTP API that serves only
 * challenge records. The user points `_acme-challenge.<name>` at the account's subdomain with a
 * CNAME once; this provider then updates that subdomain:
 *
 *     POST {server_url}/update
 *     X-Api-User: USERNAME
 *     X-Api-Key: PASSWORD
 *     {"subdomain": "SUBDOMAIN", "txt": "VALUE"}   → 200 {"txt": "VALUE"}
 *
 * acme-dns keeps the two most recent values of a subdomain (a wildcard and its base name fit) and
 * has no delete call: records age out by being replaced, so deleteRecords does nothing.
 */
import { MyServerError } from '../errors.ts';
import type { DnsProvider, DnsRecord, FixedTarget } from './provider.ts';

export interface AcmeDnsOptions {
  readonly serverUrl: string;
  readonly username: string;
  readonly password: string;
  readonly subdomain: string;
}

export class AcmeDnsProvider implements DnsProvider, FixedTarget {
  readonly name = 'acmedns';
  readonly fixedTarget = true;
  readonly #o: AcmeDnsOptions;

  constructor(options: AcmeDnsOptions) {
    this.#o = options;
  }

  async appendRecords(_zone: string, records: readonly DnsRecord[], signal?: AbortSignal): Promise<void> {
    const url = new URL('update', this.#o.serverUrl.endsWith('/') ? this.#o.serverUrl : `${this.#o.serverUrl}/`);
    for (const r of records) {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'X-Api-User': this.#o.username, 'X-Api-Key': this.#o.password, 'Content-Type': 'application/json' },
          body: JSON.stringify({ subdomain: this.#o.subdomain, txt: r.value }),
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `acmedns: updating ${this.#o.subdomain} at ${url.origin}`, { cause: err });
      }
      const body = await res.text();
      if (res.status !== 200) {
        throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `acmedns: updating ${this.#o.subdomain} at ${url.origin}: HTTP ${res.status} ${body.slice(0, 300)}`);
      }
    }
  }

  async deleteRecords(): Promise<void> {
    // No delete in acme-dns's API (see above).
  }
}

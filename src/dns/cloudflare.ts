/**
 * Cloudflare's DNS API v4 with an API token (as caddy-dns/cloudflare, libdns/cloudflare):
 *
 *     GET    /zones?name=ZONE                                       → result[0].id
 *     POST   /zones/ID/dns_records {type, name, content, ttl}        (append)
 *     GET    /zones/ID/dns_records?type=TXT&name=FQDN&content=VALUE  → result[].id
 *     DELETE /zones/ID/dns_records/RECORD_ID                         (delete)
 *
 * Every call sends `Authorization: Bearer TOKEN`; the zone lookup uses `zone_token` when one is
 * given (Cloudflare's advice: a Zone:Read token for all zones, a DNS:Edit token for one).
 * Responses are `{success, errors: [{code, message}], result}`; errors name Cloudflare's codes.
 */
import { MyServerError } from '../errors.ts';
import { absoluteName, type DnsProvider, type DnsRecord } from './provider.ts';

export interface CloudflareOptions {
  readonly apiToken: string;
  readonly zoneToken?: string;
  /** Default https://api.cloudflare.com/client/v4 (a test points it at a local stand-in). */
  readonly baseUrl?: string;
}

interface Envelope<T> {
  readonly success: boolean;
  readonly errors?: readonly { readonly code: number; readonly message: string }[];
  readonly result: T;
}

const DEFAULT_BASE = 'https://api.cloudflare.com/client/v4';

export class CloudflareProvider implements DnsProvider {
  readonly name = 'cloudflare';
  readonly #o: CloudflareOptions;
  /** Zone name → Cloudflare zone id: one lookup per zone per solver. */
  readonly #zones = new Map<string, Promise<string>>();

  constructor(options: CloudflareOptions) {
    this.#o = options;
  }

  async appendRecords(zone: string, records: readonly DnsRecord[], signal?: AbortSignal): Promise<void> {
    const id = await this.#zoneId(zone, signal);
    for (const r of records) {
      await this.#call('POST', `/zones/${id}/dns_records`, this.#o.apiToken, signal, {
        type: 'TXT',
        name: absoluteName(r, zone),
        content: r.value,
        ttl: r.ttlSeconds,
      });
    }
  }

  async deleteRecords(zone: string, records: readonly DnsRecord[], signal?: AbortSignal): Promise<void> {
    const id = await this.#zoneId(zone, signal);
    for (const r of records) {
      const q = new URLSearchParams({ type: 'TXT', name: absoluteName(r, zone), content: r.value });
      const found = await this.#call<{ id: string }[]>('GET', `/zones/${id}/dns_records?${q.toString()}`, this.#o.apiToken, signal);
      for (const rec of found) await this.#call('DELETE', `/zones/${id}/dns_records/${encodeURIComponent(rec.id)}`, this.#o.apiToken, signal);
    }
  }

  #zoneId(zone: string, signal: AbortSignal | undefined): Promise<string> {
    const name = zone.replace(/\.$/, '');
    let p = this.#zones.get(name);
    if (p === undefined) {
      p = this.#call<{ id: string; name: string }[]>('GET', `/zones?name=${encodeURIComponent(name)}`, this.#o.zoneToken ?? this.#o.apiToken, signal).then((zones) => {
        const z = zones.find((x) => x.name === name);
        if (z === undefined) throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `cloudflare: no zone ${name} visible to this API token`);
        return z.id;
      });
      p.catch(() => this.#zones.delete(name));
      this.#zones.set(name, p);
    }
    return p;
  }

  async #call<T>(method: string, path: string, token: string, signal: AbortSignal | undefined, body?: unknown): Promise<T> {
    const url = `${this.#o.baseUrl ?? DEFAULT_BASE}${path}`;
    const what = `cloudflare: ${method} ${path.split('?')[0] ?? path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw new MyServerError('MS_ERR_CHALLENGE_FAILED', what, { cause: err });
    }
    const text = await res.text();
    let env: Envelope<T> | undefined;
    try {
      env = JSON.parse(text) as Envelope<T>;
    } catch {
      env = undefined;
    }
    if (!res.ok || env?.success !== true) {
      const errors = env?.errors?.map((e) => `${e.code} ${e.message}`).join('; ') ?? text.slice(0, 300);
      throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `${what}: HTTP ${res.status}: ${errors}`);
    }
    return env.result;
  }
}

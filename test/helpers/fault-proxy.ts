import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pebble } from './pebble.ts';

/**
 * An HTTPS proxy on loopback in front of a real Pebble, which answers chosen requests itself with
 * a problem document, status and headers (a rate limit, a CAA refusal ...) and forwards the rest.
 * Pebble has no rate limits and never sends Retry-After; this is how tests get them from an
 * otherwise real CA.
 *
 * The Host header is forwarded unchanged, and Pebble builds every URL it hands out (directory,
 * Location, order and authorization URLs, the account URL a JWS `kid` must start with) from the
 * request's Host, so a client pointed at `directoryUrl` keeps talking through the proxy, and the
 * JWS `url` it signs matches what Pebble expects. The proxy serves Pebble's own listener
 * certificate, so clients trust it with `pebble.caPem`.
 */

/** A directory resource ('newOrder', 'newAccount', 'newNonce', 'revokeCert', 'keyChange'), else 'other'. */
export type Resource = 'directory' | 'newNonce' | 'newAccount' | 'newOrder' | 'revokeCert' | 'keyChange' | 'other';

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly resource: Resource;
  /** performance.now() at arrival. */
  readonly at: number;
  /** Whether a rule answered it (it never reached Pebble). */
  readonly faulted: boolean;
  /** The decoded JWS payload for POSTs (undefined for POST-as-GET or non-JWS bodies). */
  readonly payload?: unknown;
}

export interface FaultReply {
  readonly status: number;
  /** Sent as application/problem+json. */
  readonly problem?: Record<string, unknown>;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface FaultRule {
  /** A resource name, or a predicate over the request. */
  readonly match: Resource | ((req: ProxiedRequest) => boolean);
  /** Answer this many matching requests, then let them through. Default: all of them. */
  readonly times?: number;
  /** The answer, or a function making it (e.g. a Retry-After date relative to now). */
  readonly reply: FaultReply | ((req: ProxiedRequest) => FaultReply);
}

export interface FaultProxy {
  /** Pebble's directory, through the proxy. */
  readonly directoryUrl: string;
  /** Every request seen, in order. */
  readonly requests: ProxiedRequest[];
  /** Requests for a resource seen so far (faulted or not). */
  count(resource: Resource): number;
  /** Adds a rule; rules are tried in the order added. Returns a function removing it. */
  fail(rule: FaultRule): () => void;
  clear(): void;
  close(): Promise<void>;
}

const RESOURCES = ['newNonce', 'newAccount', 'newOrder', 'revokeCert', 'keyChange'] as const;

export async function startFaultProxy(pebble: Pebble): Promise<FaultProxy> {
  const target = new URL(pebble.directoryUrl);
  const dirRes = await fetchJson(pebble.directoryUrl, pebble.caPem);
  const paths = new Map<string, Resource>([[target.pathname, 'directory']]);
  for (const r of RESOURCES) {
    const u = dirRes[r];
    if (typeof u === 'string') paths.set(new URL(u).pathname, r);
  }
  const rules: { rule: FaultRule; left: number }[] = [];
  const requests: ProxiedRequest[] = [];
  const agent = new https.Agent({ keepAlive: true, ca: pebble.caPem });

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      const resource = paths.get(path.split('?')[0] ?? '') ?? 'other';
      const seen = { method: req.method ?? 'GET', path, resource, at: performance.now(), faulted: false, payload: jwsPayload(body) };
      const hit = rules.find(({ rule, left }) => left > 0 && (typeof rule.match === 'string' ? rule.match === resource : rule.match(seen)));
      if (hit) {
        hit.left--;
        requests.push({ ...seen, faulted: true });
        const reply = typeof hit.rule.reply === 'function' ? hit.rule.reply(seen) : hit.rule.reply;
        res.writeHead(reply.status, { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...reply.headers });
        res.end(reply.problem === undefined ? '' : JSON.stringify({ status: reply.status, ...reply.problem }));
        return;
      }
      requests.push(seen);
      const upstream = https.request(
        { host: target.hostname, port: target.port, method: req.method, path, headers: req.headers, agent },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', (err) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`fault proxy: ${err.message}`);
      });
      upstream.end(body);
    });
  };

  const server = https.createServer({ cert: pebble.listenerCertPem, key: pebble.listenerKeyPem }, handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    directoryUrl: `https://127.0.0.1:${port}${target.pathname}`,
    requests,
    count: (resource) => requests.filter((r) => r.resource === resource).length,
    fail(rule) {
      const entry = { rule, left: rule.times ?? Number.POSITIVE_INFINITY };
      rules.push(entry);
      return () => {
        const i = rules.indexOf(entry);
        if (i >= 0) rules.splice(i, 1);
      };
    },
    clear: () => void rules.splice(0),
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An RFC 8555 problem document (type given as the short ACME name or a full URN). */
export function problem(type: string, detail: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { type: type.includes(':') ? type : `urn:ietf:params:acme:error:${type}`, detail, ...extra };
}

function jwsPayload(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    const jws = JSON.parse(body.toString('utf8')) as { payload?: string };
    if (typeof jws.payload !== 'string' || jws.payload === '') return undefined;
    return JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function fetchJson(url: string, ca: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(text) as Record<string, unknown>);
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      })
      .on('error', reject);
  });
}

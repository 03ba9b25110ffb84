import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny ACME server on a real loopback socket that answers what each test scripts, and records
 * every request (with its JWS decoded) so tests can check what the client put on the wire.
 * Unscripted paths answer 404. Every answer carries a fresh Replay-Nonce unless it sets its own.
 */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** The flattened JWS, when the body is one. */
  readonly jws?: { protected: string; payload: string; signature: string };
  /** The decoded protected header. */
  readonly header?: Record<string, unknown>;
  /** The decoded payload: '' for POST-as-GET, else the parsed JSON. */
  readonly payload?: unknown;
}

export interface FakeReply {
  readonly status?: number;
  readonly headers?: Record<string, string | string[]>;
  /** Objects are sent as JSON; strings as they are. */
  readonly body?: unknown;
}

export type Handler = (req: RecordedRequest) => FakeReply | Promise<FakeReply>;

export interface FakeCa {
  readonly url: string;
  readonly directoryUrl: string;
  readonly requests: RecordedRequest[];
  /** Nonces handed out, in order. */
  readonly nonces: string[];
  /** Scripts an answer for a path (exact match, without the query). */
  on(path: string, handler: Handler): void;
  /** Scripts an answer for every path under a prefix that has no exact route. */
  onPrefix(prefix: string, handler: Handler): void;
  /** The handler answering a path now (exact route, else prefix, else undefined). */
  route(path: string): Handler | undefined;
  /** Requests to a path, in order. */
  to(path: string): RecordedRequest[];
  close(): Promise<void>;
}

export interface FakeCaOptions {
  /** Extra or overriding directory fields (e.g. meta, renewalInfo: undefined). */
  readonly directory?: Record<string, unknown>;
}

export async function startFakeCa(options: FakeCaOptions = {}): Promise<FakeCa> {
  const routes = new Map<string, Handler>();
  const prefixes: [string, Handler][] = [];
  const requests: RecordedRequest[] = [];
  const nonces: string[] = [];
  let base = '';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const rec = record(req, body);
      requests.push(rec);
      const handler = routes.get(rec.path) ?? prefixes.find(([p]) => rec.path.startsWith(p))?.[1];
      void Promise.resolve(handler === undefined ? { status: 404, body: { type: 'urn:ietf:params:acme:error:malformed', detail: `no route ${rec.path}` } } : handler(rec)).then(
        (reply) => send(res, reply),
        (err: unknown) => send(res, { status: 500, body: String(err) }),
      );
    });
  });
  const send = (res: http.ServerResponse, reply: FakeReply): void => {
    const headers: Record<string, string | string[]> = { ...reply.headers };
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'replay-nonce')) {
      const nonce = `nonce-${nonces.length + 1}`;
      nonces.push(nonce);
      headers['replay-nonce'] = nonce;
    }
    let payload = '';
    if (typeof reply.body === 'string') payload = reply.body;
    else if (reply.body !== undefined) {
      payload = JSON.stringify(reply.body);
      const isProblem = typeof reply.body === 'object' && reply.body !== null && 'type' in reply.body && (reply.status ?? 200) >= 400;
      headers['content-type'] ??= isProblem ? 'application/problem+json' : 'application/json';
    }
    res.writeHead(reply.status ?? 200, headers).end(payload);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  routes.set('/dir', () => ({
    body: {
      newNonce: `${base}/new-nonce`,
      newAccount: `${base}/new-acct`,
      newOrder: `${base}/new-order`,
      revokeCert: `${base}/revoke-cert`,
      keyChange: `${base}/key-change`,
      renewalInfo: `${base}/renewal-info`,
      ...options.directory,
    },
    headers: { 'replay-nonce': '' },
  }));
  routes.set('/new-nonce', () => ({ status: 200 }));
  routes.set('/new-acct', () => ({ status: 201, headers: { location: `${base}/acct/1` }, body: { status: 'valid' } }));

  return {
    url: base,
    directoryUrl: `${base}/dir`,
    requests,
    nonces,
    on: (path, handler) => void routes.set(path, handler),
    onPrefix: (prefix, handler) => void prefixes.push([prefix, handler]),
    route: (path) => routes.get(path) ?? prefixes.find(([p]) => path.startsWith(p))?.[1],
    to: (path) => requests.filter((r) => r.path === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function record(req: http.IncomingMessage, body: string): RecordedRequest {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const base = { method: req.method ?? '', path, headers: req.headers, body };
  try {
    const jws = JSON.parse(body) as { protected: string; payload: string; signature: string };
    if (typeof jws.protected !== 'string') return base;
    const header = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8')) as Record<string, unknown>;
    const raw = Buffer.from(jws.payload, 'base64url').toString('utf8');
    return { ...base, jws, header, payload: raw === '' ? '' : (JSON.parse(raw) as unknown) };
  } catch {
    return base;
  }
}

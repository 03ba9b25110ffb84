/**
 * Hostile HTTP/2 clients against `my-server run` (issue 7, failure 1): cancelled streams must not
 * hold connections to the upstream, and a rapid-reset flood (CVE-2023-44487) is answered with
 * GOAWAY. A real child process, a real node:http upstream that counts its open connections,
 * node:http2 clients that break no protocol rule (HEADERS, then RST_STREAM CANCEL), and for the
 * flood a client that writes the frames itself (helpers/rapid-reset.ts says why).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { eventually } from '../helpers/eventually.ts';
import { freePorts, procNetSockets } from '../helpers/ports.ts';
import { rapidResetBurst } from '../helpers/rapid-reset.ts';
import { globalOptions, startServer, type RunningServer } from '../helpers/run-server.ts';

const SITE = 'a.test';
/** How long the upstream takes to answer: long enough that most cancels land before its headers. */
const UPSTREAM_DELAY_MS = 25;
/** Upstream connections allowed to stay open (idle in the pool) after the burst; see the test. */
const IDLE_BOUND = 128;

interface CountingUpstream {
  readonly server: http.Server;
  readonly port: number;
  /** Connections open right now. */
  open(): number;
  requests(): number;
  /** Resolves when a request for `path` arrives. */
  arrival(path: string): Promise<void>;
  close(): Promise<void>;
}

/** Answers every request with a 64 KiB body after UPSTREAM_DELAY_MS (more than a stream's window). */
async function countingUpstream(): Promise<CountingUpstream> {
  const sockets = new Set<Socket>();
  const waiting = new Map<string, () => void>();
  let requests = 0;
  const body = Buffer.alloc(64 * 1024, 'x');
  const server = http.createServer((req, res) => {
    requests++;
    req.resume();
    const arrived = waiting.get(req.url ?? '');
    waiting.delete(req.url ?? '');
    arrived?.();
    const timer = setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    }, UPSTREAM_DELAY_MS);
    res.once('close', () => clearTimeout(timer));
  });
  server.keepAliveTimeout = 120_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    open: () => sockets.size,
    requests: () => requests,
    arrival: (path) => new Promise<void>((resolve) => waiting.set(path, resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

let upstream: CountingUpstream;
let server: RunningServer;
let httpsPort: number;

before(async () => {
  upstream = await countingUpstream();
  const [httpPort, tlsPort] = await freePorts(2);
  httpsPort = tlsPort!;
  server = await startServer(
    (env) =>
      globalOptions(env, { http: httpPort!, https: httpsPort, loopback: true }, '\tlocal_certs\n') +
      `${SITE} {\n\treverse_proxy 127.0.0.1:${upstream.port}\n}\n`,
  );
});

after(async () => {
  await server?.close();
  await upstream?.close();
});

function connect(): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${httpsPort}`, { servername: SITE, rejectUnauthorized: false });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/** One GET over a fresh HTTP/2 connection: its status and body length, or a rejection after timeoutMs. */
async function h2Get(timeoutMs: number): Promise<{ status: number; length: number }> {
  const session = await connect();
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ':path': '/', ':authority': SITE });
      const timer = setTimeout(() => reject(new Error(`no HTTP/2 response within ${timeoutMs} ms`)), timeoutMs);
      let status = 0;
      let length = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (d: Buffer) => (length += d.length));
      req.on('end', () => {
        clearTimeout(timer);
        resolve({ status, length });
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  } finally {
    session.destroy();
  }
}

function h1Get(timeoutMs: number): Promise<{ status: number; length: number }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port: httpsPort, servername: SITE, headers: { host: SITE }, rejectUnauthorized: false, agent: false, timeout: timeoutMs },
      (res) => {
        let length = 0;
        res.on('data', (d: Buffer) => (length += d.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, length }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no HTTP/1.1 response within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** No stream of a connection closed for this long: the connection is looked at (see cancelMany). */
const STALL_MS = 15_000;

/** What became of one connection's cancels. */
interface CancelRound {
  readonly started: number;
  /** The error code of a GOAWAY the server sent, if the client read one. */
  readonly goaway?: number;
  /** The session closed (the client saw the server end it) before all `total` had started. */
  readonly endedEarly: boolean;
  /** The server had closed the connection but the client session had not noticed (see below). */
  readonly missedClose: boolean;
}

/** Whether the kernel still has the TCP connection from `localPort` to the proxy established (state 01). */
function stillEstablished(localPort: number): boolean {
  return procNetSockets('tcp').some((s) => s.localPort === localPort && s.remotePort === httpsPort && s.state === '01');
}

/**
 * `total` GETs on one connection, `inFlight` at a time, each cancelled (RST_STREAM CANCEL) 0–40 ms
 * after the upstream received it: before the upstream's headers (sent after 25 ms) for most, after
 * them (mid-body) for the rest. A request cancelled before it reaches the upstream proves nothing.
 *
 * A node:http2 client session stops reading while a write of its own is in progress, and can
 * then miss that the server closed the connection (helpers/rapid-reset.ts): its streams never
 * close and the round would wait forever (seen once in 31 runs under load). So when no stream
 * has closed for STALL_MS, the kernel is asked: a connection still established is a proxy that
 * stopped answering, the failure this file is about; one the server closed (the client's side left
 * in CLOSE_WAIT, or reset) was the client's blind spot, and the round ends there.
 */
async function cancelMany(session: http2.ClientHttp2Session, total: number, inFlight: number): Promise<CancelRound> {
  const localPort = session.socket.localPort!;
  // Else a stall could pass for a missed close: the lookup must see this connection to begin with.
  assert.ok(stillEstablished(localPort), `connection from port ${localPort} not found established in /proc/net/tcp`);
  let started = 0;
  let goaway: number | undefined;
  session.once('goaway', (code: number) => (goaway = code));
  let lastClose = Date.now();
  let missedClose = false;
  let stalled: Error | undefined;
  const watchdog = setInterval(() => {
    if (Date.now() - lastClose < STALL_MS || session.destroyed) return;
    if (stillEstablished(localPort)) stalled = new Error(`no stream closed for ${STALL_MS} ms while the proxy kept the connection open (${started} of ${total} started)`);
    else missedClose = true;
    session.destroy();
  }, 1_000);
  const worker = async (): Promise<void> => {
    while (started < total && !session.destroyed) {
      started++;
      await new Promise<void>((resolve) => {
        const path = `/cancel/${started}`;
        const req = session.request({ ':path': path, ':authority': SITE });
        req.on('error', () => undefined);
        req.on('data', () => undefined);
        req.once('close', () => {
          lastClose = Date.now();
          resolve();
        });
        const cancel = (): void => void req.close(http2.constants.NGHTTP2_CANCEL);
        void upstream.arrival(path).then(() => setTimeout(cancel, Math.floor(Math.random() * 41)));
        // A request the proxy answered itself (it never reached the upstream) ends the wait too.
        setTimeout(cancel, 5_000).unref();
      });
    }
  };
  try {
    await Promise.all(Array.from({ length: inFlight }, worker));
  } finally {
    clearInterval(watchdog);
  }
  if (stalled) throw stalled;
  return { started, ...(goaway === undefined ? {} : { goaway }), endedEarly: started < total || session.closed, missedClose };
}

test('10,000 cancelled HTTP/2 requests leave the site answering and no upstream connection held', { timeout: 240_000 }, async (t) => {
  assert.deepEqual(await h2Get(10_000), { status: 200, length: 64 * 1024 });
  const before = upstream.open();

  // Spread over several connections, as browsers do, each well under Node's default stream-reset
  // rate limit (1,000 burst, 33/s, per connection): that limit is the subject of the next test.
  const deadline = Date.now() + 180_000;
  const rounds: CancelRound[] = [];
  for (let round = 0; round < 20 && Date.now() < deadline; round++) {
    const session = await connect();
    session.on('error', () => undefined);
    rounds.push(await cancelMany(session, 500, 20));
    session.destroy();
  }
  const seen = upstream.requests();
  const cut = rounds.filter((r) => r.goaway !== undefined || r.endedEarly || r.missedClose);
  if (cut.length > 0) t.diagnostic(`rounds the server ended: ${JSON.stringify(cut)}`);
  assert.ok(
    seen > 9_000,
    `the upstream saw ${seen} of the cancelled requests: too few to fill a 1,024-connection pool; rounds the server ended: ${JSON.stringify(cut)}`,
  );

  // The proxy answers at once, over both protocols, and its connections to the upstream come
  // back down to the idle keep-alive ones: about one per request in flight at a time (20), plus
  // dials that completed after their request was cancelled, which the pool keeps as idle (more of
  // them on a loaded machine). The wedged pool of issue 7 held 1,021; IDLE_BOUND is far below that.
  assert.deepEqual(await h2Get(5_000), { status: 200, length: 64 * 1024 });
  assert.deepEqual(await h1Get(5_000), { status: 200, length: 64 * 1024 });
  const settled = await eventually('upstream connections released', 10_000, async () => {
    const open = upstream.open();
    if (open > before + IDLE_BOUND) throw new Error(`${open} upstream connections open (${before} before the burst)`);
    return open;
  });
  assert.ok(settled <= before + IDLE_BOUND, `${settled} upstream connections open after the burst (${before} before)`);
});

test('a rapid-reset flood (HEADERS + RST_STREAM) gets GOAWAY (or the close after it) and the site keeps answering', { timeout: 120_000 }, async () => {
  const before = upstream.open();
  const burst = await rapidResetBurst({ port: httpsPort, servername: SITE, pairs: 2_000, waitMs: 20_000 });
  // The server answers the flood with GOAWAY. Should it also close while the burst is still being
  // written, the client's kernel gets a TCP RST and may drop the GOAWAY it had received but not
  // yet read: a close is the same defence, seen from here. What must not happen is no reaction.
  assert.ok(
    burst.goaway !== undefined || burst.closed,
    `neither GOAWAY nor a close within 20 s of ${burst.sent} reset streams (the upstream saw ${upstream.requests()} requests in all)`,
  );

  assert.deepEqual(await h2Get(5_000), { status: 200, length: 64 * 1024 });
  assert.deepEqual(await h1Get(5_000), { status: 200, length: 64 * 1024 });
  await eventually('upstream connections released', 10_000, async () => (upstream.open() <= before + IDLE_BOUND ? true : undefined));
  assert.equal(server.child.exitCode, null, 'my-server is still running');
});

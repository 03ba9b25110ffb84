import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { MyServerError } from '../../../src/errors.ts';
import { ChallengeStore } from '../../../src/challenges/challenge-store.ts';
import { Http01Solver } from '../../../src/challenges/http-01.ts';
import type { ChallengeInfo } from '../../../src/challenges/solver.ts';
import { MemoryStorage } from './memory-storage.ts';

const TOKEN = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';
const KEY_AUTH = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;
const challenge = (token: string, value: string, type: 'dns' | 'ip' = 'dns'): ChallengeInfo => ({
  type: 'http-01',
  token,
  keyAuthorization: `${token}.thumb`,
  identifier: { type, value },
});

/** A real HTTP server that asks the solver first and answers 418 when the solver passes. */
async function serve(t: TestContext, solver: Http01Solver): Promise<number> {
  const server = http.createServer((req, res) => {
    void solver.handleHttp01(req, res).then((answered) => {
      if (!answered) res.writeHead(418).end('fell through');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** Sends `path` exactly as written (no normalisation) with the given Host header. */
async function fetchRaw(port: number, path: string, host: string | undefined, method = 'GET'): Promise<{ status: number; body: string; type?: string }> {
  const headers: Record<string, string> = host === undefined ? {} : { host };
  const req = http.request({ host: '127.0.0.1', port, path, method, headers, setHost: host !== undefined, agent: false });
  req.end();
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  let body = '';
  res.setEncoding('utf8').on('data', (d: string) => (body += d));
  await once(res, 'end');
  return { status: res.statusCode ?? 0, body, ...(res.headers['content-type'] === undefined ? {} : { type: res.headers['content-type'] }) };
}

async function setup(t: TestContext) {
  const storage = new MemoryStorage();
  const solver = new Http01Solver({ store: new ChallengeStore({ storage }) });
  const port = await serve(t, solver);
  return { storage, solver, port };
}

test('a pending token is answered with 200 text/plain and exactly the key authorization', async (t) => {
  const { solver, port } = await setup(t);
  await solver.present({ type: 'http-01', token: TOKEN, keyAuthorization: KEY_AUTH, identifier: { type: 'dns', value: 'a.test' } });
  const res = await fetchRaw(port, `/.well-known/acme-challenge/${TOKEN}`, 'a.test');
  assert.equal(res.status, 200);
  assert.equal(res.body, KEY_AUTH);
  assert.match(res.type ?? '', /^text\/plain/);
});

test('Host is compared without port, case-insensitively and without a trailing dot; HEAD gets no body', async (t) => {
  const { solver, port } = await setup(t);
  await solver.present(challenge('tok', 'A.Test'));
  for (const host of ['a.test', 'A.TEST:80', 'a.test.', `a.test:${port}`]) {
    const res = await fetchRaw(port, '/.well-known/acme-challenge/tok', host);
    assert.deepEqual([host, res.status, res.body], [host, 200, 'tok.thumb']);
  }
  const head = await fetchRaw(port, '/.well-known/acme-challenge/tok', 'a.test', 'HEAD');
  assert.deepEqual([head.status, head.body], [200, '']);
});

test('IP identifiers match Host headers naming the same address, IPv6 in brackets', async (t) => {
  const { solver, port } = await setup(t);
  await solver.present(challenge('v4', '127.0.0.1', 'ip'));
  await solver.present(challenge('v6', '2001:DB8:0::1', 'ip'));
  assert.equal((await fetchRaw(port, '/.well-known/acme-challenge/v4', `127.0.0.1:${port}`)).body, 'v4.thumb');
  assert.equal((await fetchRaw(port, '/.well-known/acme-challenge/v6', '[2001:db8::1]:80')).body, 'v6.thumb');
  assert.equal((await fetchRaw(port, '/.well-known/acme-challenge/v6', '[2001:db8::2]')).status, 404);
});

test('a token is not served for another host, and unknown or withdrawn tokens get 404', async (t) => {
  const { solver, port } = await setup(t);
  const a = challenge('tokA', 'a.test');
  await solver.present(a);
  await solver.present(challenge('tokB', 'b.test'));
  assert.equal((await fetchRaw(port, '/.well-known/acme-challenge/tokA', 'b.test')).status, 404);
  assert.equal((await fetchRaw(port, '/.well-known/acme-challenge/tokB', 'b.test')).body, 'tokB.thumb');
  assert.equal((await fetchRaw(port, '/.well-known/acme-challenge/unknown', 'a.test')).status, 404);
  // HTTP/1.0 may omit Host (Node refuses that in HTTP/1.1 itself): no host, no answer.
  const socket = net.connect(port, '127.0.0.1');
  socket.end('GET /.well-known/acme-challenge/tokA HTTP/1.0\r\n\r\n');
  let raw = '';
  socket.setEncoding('utf8').on('data', (d: string) => (raw += d));
  await once(socket, 'close');
  assert.match(raw, /^HTTP\/1\.1 404 /);
  await solver.cleanup(a);
  assert.equal((await fetchRaw(port, '/.well-known/acme-challenge/tokA', 'a.test')).status, 404);
});

test('traversal and non-token paths under the prefix get 404 and never reach storage', async (t) => {
  const { storage, solver, port } = await setup(t);
  await solver.present(challenge('tok', 'a.test'));
  await storage.put('accounts/secret.json', 'do not leak');
  const before = storage.gets;
  for (const path of [
    '/.well-known/acme-challenge/',
    '/.well-known/acme-challenge/../../accounts/secret.json',
    '/.well-known/acme-challenge/..%2f..%2faccounts%2fsecret.json',
    '/.well-known/acme-challenge/%2e%2e',
    '/.well-known/acme-challenge/tok/',
    '/.well-known/acme-challenge/tok/../tok',
    '/.well-known/acme-challenge/tok.json',
    '/.well-known/acme-challenge/tok%00',
  ]) {
    const res = await fetchRaw(port, path, 'a.test');
    assert.deepEqual([path, res.status], [path, 404]);
    assert.ok(!res.body.includes('leak') && !res.body.includes('thumb'));
  }
  assert.equal(storage.gets, before);
});

test('only GET and HEAD are answered; a query string is ignored; other paths fall through untouched', async (t) => {
  const { solver, port } = await setup(t);
  await solver.present(challenge('tok', 'a.test'));
  assert.equal((await fetchRaw(port, '/.well-known/acme-challenge/tok', 'a.test', 'POST')).status, 404);
  assert.equal((await fetchRaw(port, '/.well-known/acme-challenge/tok?x=1', 'a.test')).body, 'tok.thumb');
  assert.equal((await fetchRaw(port, '/', 'a.test')).status, 418);
  assert.equal((await fetchRaw(port, '/.well-known/acme-challengeX/tok', 'a.test')).status, 418);
});

test('an absolute-form target is judged by its own authority, not the Host header', async (t) => {
  const { solver, port } = await setup(t);
  await solver.present(challenge('tok', 'a.test'));
  assert.equal((await fetchRaw(port, 'http://a.test/.well-known/acme-challenge/tok', 'b.test')).body, 'tok.thumb');
  assert.equal((await fetchRaw(port, 'http://b.test/.well-known/acme-challenge/tok', 'a.test')).status, 404);
});

test('another instance sharing the storage answers a token this one presented', async (t) => {
  const storage = new MemoryStorage();
  const presenter = new Http01Solver({ store: new ChallengeStore({ storage }) });
  const answerer = new Http01Solver({ store: new ChallengeStore({ storage }) });
  const port = await serve(t, answerer);
  await presenter.present(challenge('tok', 'a.test'));
  assert.equal((await fetchRaw(port, '/.well-known/acme-challenge/tok', 'a.test')).body, 'tok.thumb');
});

test('a storage failure is answered with 500, and present rejects tokens outside base64url or after abort', async (t) => {
  const { storage, solver, port } = await setup(t);
  storage.failWith = new Error('storage down');
  assert.equal((await fetchRaw(port, '/.well-known/acme-challenge/tok', 'a.test')).status, 500);
  storage.failWith = undefined;
  await assert.rejects(solver.present(challenge('a.b', 'a.test')), (err: unknown) => err instanceof MyServerError && err.code === 'MS_ERR_CHALLENGE_FAILED');
  await assert.rejects(solver.present(challenge('tok', 'a.test'), AbortSignal.abort()), (err: unknown) => err instanceof MyServerError && err.code === 'MS_ERR_ABORTED');
});

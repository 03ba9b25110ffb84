import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AcmeClient } from '../../../src/acme/client.ts';
import { HttpTransport, linkTargets, parseRetryAfter, type HttpResponse } from '../../../src/acme/http.ts';
import { generateAccountKey } from '../../../src/acme/jws.ts';
import { findProblem } from '../../../src/acme/problem.ts';

const NOW = Date.parse('2025-06-01T12:00:00Z');

test('Retry-After is read as delay-seconds or an HTTP-date, relative to now', () => {
  const cases: [string | undefined, number | undefined][] = [
    ['120', 120_000],
    [' 5 ', 5_000],
    ['0', 0],
    ['Sun, 01 Jun 2025 12:00:30 GMT', 30_000],
    ['Sunday, 01-Jun-25 12:01:00 GMT', 60_000], // RFC 850, obsolete but allowed
    ['Sat, 31 May 2025 12:00:00 GMT', 0], // in the past: no wait
    ['-5', undefined],
    ['soon', undefined],
    ['2025-06-01T12:00:30Z', undefined], // not an HTTP-date
    ['', undefined],
    [undefined, undefined],
  ];
  for (const [value, want] of cases) {
    assert.equal(parseRetryAfter(value, NOW), want, String(value));
  }
});

test('Link rel="alternate" targets are found among other relations and resolved against the request URL', () => {
  const res = (link: string | string[]): HttpResponse => ({
    status: 200,
    headers: { link } as http.IncomingHttpHeaders,
    body: Buffer.alloc(0),
    url: 'https://ca.test/cert/1',
  });
  assert.deepEqual(
    linkTargets(res('<https://ca.test/cert/1/alt/1>;rel="alternate", <https://ca.test/dir>;rel="index", </cert/1/alt/2>; rel=alternate'), 'alternate'),
    ['https://ca.test/cert/1/alt/1', 'https://ca.test/cert/1/alt/2'],
  );
  assert.deepEqual(linkTargets(res(['<https://ca.test/a>;rel="alternate"', '<https://ca.test/b>;rel="up"']), 'alternate'), ['https://ca.test/a']);
  assert.deepEqual(linkTargets(res('<https://ca.test/dir>;rel="index"'), 'alternate'), []);
});

async function listen(server: http.Server | https.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: http.Server | https.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

test('a request that gets no answer within timeoutMs fails with MS_ERR_ACME_NETWORK', async () => {
  const server = http.createServer(() => {
    /* never answers */
  });
  const addr = await listen(server);
  const transport = new HttpTransport({ timeoutMs: 200, userAgent: 'test' });
  try {
    const started = Date.now();
    await assert.rejects(transport.request({ method: 'GET', url: `http://${addr}/dir`, context: 'fetching directory' }), (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'MS_ERR_ACME_NETWORK');
      assert.match((err as Error).message, /^fetching directory: GET/);
      assert.match(String((err as Error).cause), /no response within 200ms/);
      return true;
    });
    assert.ok(Date.now() - started < 5_000);
  } finally {
    transport.close();
    await close(server);
  }
});

test('aborting the signal stops a request with MS_ERR_ABORTED', async () => {
  const server = http.createServer(() => {
    /* never answers */
  });
  const addr = await listen(server);
  const client = new AcmeClient({ directoryUrl: `http://${addr}/dir`, accountKey: await generateAccountKey() });
  try {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('shutting down')), 50);
    await assert.rejects(client.directory({ signal: ac.signal }), { code: 'MS_ERR_ABORTED' });
  } finally {
    client.close();
    await close(server);
  }
});

test('caRoots is what the ACME server HTTPS is checked against', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-acme-http-'));
  try {
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-days', '1',
      '-subj', '/CN=test ACME server', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ]);
    const cert = await readFile(join(dir, 'cert.pem'), 'utf8');
    const key = await readFile(join(dir, 'key.pem'), 'utf8');
    let userAgent: string | undefined;
    const server = https.createServer({ cert, key }, (req, res) => {
      userAgent = req.headers['user-agent'];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ newNonce: 'n', newAccount: 'a', newOrder: 'o', revokeCert: 'r', keyChange: 'k' }));
    });
    const addr = await listen(server);
    const accountKey = await generateAccountKey();
    const trusting = new AcmeClient({ directoryUrl: `https://${addr}/dir`, accountKey, caRoots: cert, userAgent: 'my-server/1.0.0 acme' });
    const untrusting = new AcmeClient({ directoryUrl: `https://${addr}/dir`, accountKey });
    try {
      assert.equal((await trusting.directory()).newOrder, 'o');
      assert.equal(userAgent, 'my-server/1.0.0 acme');
      await assert.rejects(untrusting.directory(), (err: unknown) => {
        assert.equal((err as { code?: string }).code, 'MS_ERR_ACME_NETWORK');
        assert.match(String((err as Error).cause), /self-signed|unable to verify/i);
        return true;
      });
    } finally {
      trusting.close();
      untrusting.close();
      await close(server);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the directory is fetched once and shared; a failed fetch is tried again', async () => {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    if (hits === 1) res.writeHead(503).end('busy');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ newNonce: 'n', newAccount: 'a', newOrder: 'o' }));
  });
  const addr = await listen(server);
  const client = new AcmeClient({ directoryUrl: `http://${addr}/dir`, accountKey: await generateAccountKey() });
  try {
    await assert.rejects(client.directory(), (err: unknown) => findProblem(err)?.status === 503 && /fetching directory/.test((err as Error).message));
    const [a, b] = await Promise.all([client.directory(), client.directory()]);
    assert.equal(a, b);
    await client.directory();
    assert.equal(hits, 2);
  } finally {
    client.close();
    await close(server);
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AcmeClient } from '../../../src/acme/client.ts';
import { generateAccountKey } from '../../../src/acme/jws.ts';
import { AcmeProblem, findProblem, isProblem } from '../../../src/acme/problem.ts';
import { MyServerError } from '../../../src/errors.ts';
import { startFakeCa, type FakeCa } from './fake-ca.ts';

async function withClient(fn: (ca: FakeCa, client: AcmeClient) => Promise<void>, now?: () => number): Promise<void> {
  const ca = await startFakeCa();
  const client = new AcmeClient({
    directoryUrl: ca.directoryUrl,
    accountKey: await generateAccountKey(),
    accountUrl: `${ca.url}/acct/1`,
    ...(now === undefined ? {} : { now }),
  });
  try {
    await fn(ca, client);
  } finally {
    client.close();
    await ca.close();
  }
}

const REJECTED = {
  type: 'urn:ietf:params:acme:error:rejectedIdentifier',
  detail: 'Some of the identifiers requested were rejected',
  status: 400,
  subproblems: [
    { type: 'urn:ietf:params:acme:error:malformed', detail: 'Invalid underscore in DNS name "_example.org"', identifier: { type: 'dns', value: '_example.org' } },
    { type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'This CA will not issue for "example.net"', identifier: { type: 'dns', value: 'example.net' } },
  ],
};

test('a problem response keeps type, detail, status, subproblems, the request URL and Retry-After', async () => {
  await withClient(async (ca, client) => {
    ca.on('/new-order', () => ({ status: 400, headers: { 'retry-after': '120' }, body: REJECTED }));
    const err = await client
      .newOrder({ identifiers: [{ type: 'dns', value: '_example.org' }, { type: 'dns', value: 'example.net' }] })
      .catch((e: unknown) => e);
    assert.ok(err instanceof AcmeProblem);
    assert.equal(err.code, 'MS_ERR_ACME_PROBLEM');
    assert.equal(err.type, 'urn:ietf:params:acme:error:rejectedIdentifier');
    assert.equal(err.detail, 'Some of the identifiers requested were rejected');
    assert.equal(err.status, 400);
    assert.equal(err.url, `${ca.url}/new-order`);
    assert.equal(err.retryAfter, 120_000);
    assert.deepEqual(err.subproblems, [
      { type: 'urn:ietf:params:acme:error:malformed', detail: 'Invalid underscore in DNS name "_example.org"', identifier: { type: 'dns', value: '_example.org' } },
      { type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'This CA will not issue for "example.net"', identifier: { type: 'dns', value: 'example.net' } },
    ]);
    assert.match(err.message, /^urn:ietf:params:acme:error:rejectedIdentifier: Some of the identifiers requested were rejected/);
    assert.match(err.message, /dns example\.net: urn:ietf:params:acme:error:rejectedIdentifier: This CA will not issue for "example\.net"/);
  });
});

test('a 429 with an HTTP-date Retry-After is surfaced at once as retryAfter in ms, never slept on', async () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  await withClient(
    async (ca, client) => {
      ca.on('/new-order', () => ({
        status: 429,
        headers: { 'retry-after': 'Tue, 01 Jan 2030 03:00:00 GMT' },
        body: { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many certificates' },
      }));
      const started = Date.now();
      const err = await client.newOrder({ identifiers: [{ type: 'dns', value: 'a.test' }] }).catch((e: unknown) => e);
      assert.ok(Date.now() - started < 5_000);
      assert.ok(isProblem(err, 'rateLimited'));
      assert.equal(err.retryAfter, 3 * 3600_000);
      assert.equal(err.status, 429);
    },
    () => now,
  );
});

test('a problem about one identifier names it, and a document without type is about:blank', () => {
  const p = AcmeProblem.fromDocument(
    { type: 'urn:ietf:params:acme:error:dns', detail: 'NXDOMAIN looking up A', identifier: { type: 'dns', value: 'a.test' } },
    { status: 400 },
  );
  assert.deepEqual(p.identifier, { type: 'dns', value: 'a.test' });
  assert.equal(p.message, 'urn:ietf:params:acme:error:dns: NXDOMAIN looking up A (dns a.test)');
  const blank = AcmeProblem.fromDocument({ detail: 'oops' }, { status: 500 });
  assert.equal(blank.type, 'about:blank');
  assert.equal(blank.status, 500);
  assert.equal(blank.retryAfter, undefined);
});

test('an error page that is not a problem document becomes an about:blank problem with the status', async () => {
  await withClient(async (ca, client) => {
    ca.on('/order/1', () => ({ status: 502, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' }));
    const err = await client.getOrder(`${ca.url}/order/1`).catch((e: unknown) => e);
    assert.ok(err instanceof AcmeProblem);
    assert.equal(err.type, 'about:blank');
    assert.equal(err.status, 502);
    assert.match(err.message, /HTTP 502: 502 Bad Gateway/);
  });
});

test('isProblem matches short names and full URNs, also through a cause chain', () => {
  const p = AcmeProblem.fromDocument({ type: 'urn:ietf:params:acme:error:badNonce', detail: 'x' });
  assert.ok(isProblem(p, 'badNonce'));
  assert.ok(isProblem(p, 'urn:ietf:params:acme:error:badNonce'));
  assert.ok(isProblem(p));
  assert.ok(!isProblem(p, 'rateLimited'));
  const wrapped = new MyServerError('MS_ERR_ACME_PROBLEM', 'renewing a.test', { cause: p });
  assert.ok(isProblem(wrapped, 'badNonce'));
  assert.equal(findProblem(wrapped), p);
  assert.ok(!isProblem(new Error('badNonce'), 'badNonce'));
});

test('badNonce is retried with the nonce from the error response', async () => {
  await withClient(async (ca, client) => {
    let calls = 0;
    ca.on('/order/1', () => {
      calls++;
      if (calls <= 2) {
        return {
          status: 400,
          headers: { 'replay-nonce': `fresh-${calls}` },
          body: { type: 'urn:ietf:params:acme:error:badNonce', detail: 'JWS has an invalid anti-replay nonce' },
        };
      }
      return { body: { status: 'ready', identifiers: [], authorizations: [], finalize: `${ca.url}/fin/1` } };
    });
    const order = await client.getOrder(`${ca.url}/order/1`);
    assert.equal(order.status, 'ready');
    const nonces = ca.to('/order/1').map((r) => r.header?.nonce);
    assert.deepEqual(nonces, ['nonce-1', 'fresh-1', 'fresh-2']);
  });
});

test('badNonce retries stop after ten attempts (RFC 8555 §6.5 retry, bounded) and surface the problem', async () => {
  await withClient(async (ca, client) => {
    ca.on('/order/1', () => ({ status: 400, body: { type: 'urn:ietf:params:acme:error:badNonce', detail: 'bad nonce' } }));
    const err = await client.getOrder(`${ca.url}/order/1`).catch((e: unknown) => e);
    assert.ok(isProblem(err, 'badNonce'));
    assert.equal(ca.to('/order/1').length, 10);
  });
});

test('other problems are not retried', async () => {
  await withClient(async (ca, client) => {
    ca.on('/order/1', () => ({ status: 403, body: { type: 'urn:ietf:params:acme:error:unauthorized', detail: 'not yours' } }));
    await assert.rejects(client.getOrder(`${ca.url}/order/1`), (e: unknown) => isProblem(e, 'unauthorized') && e.status === 403);
    assert.equal(ca.to('/order/1').length, 1);
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OnDemandPolicy } from '../../../src/certs/on-demand.ts';
import { MyServerError } from '../../../src/errors.ts';

interface AskServer {
  readonly url: string;
  /** The request-targets received, in order. */
  readonly seen: string[];
  status: number;
  close(): Promise<void>;
}

async function askServer(status = 200, path = '/ask'): Promise<AskServer> {
  const seen: string[] = [];
  const state = { status };
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.statusCode = state.status;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    seen,
    get status() {
      return state.status;
    },
    set status(v: number) {
      state.status = v;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function isPolicyError(pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof MyServerError, String(err));
    assert.equal(err.code, 'MS_ERR_POLICY');
    assert.match(err.message, pattern);
    return true;
  };
}

test('ask answering 200 allows, and the ask URL receives domain=<name>', async () => {
  const ask = await askServer(200);
  try {
    await new OnDemandPolicy({ ask: ask.url }).authorize('a.example.com');
    assert.deepEqual(ask.seen, ['/ask?domain=a.example.com']);
  } finally {
    await ask.close();
  }
});

test('the domain parameter is added to a query the ask URL already has, and is encoded', async () => {
  const ask = await askServer(200);
  try {
    await new OnDemandPolicy({ ask: `${ask.url}?token=abc` }).authorize('*.x.example');
    const url = new URL(ask.seen[0] ?? '', 'http://h');
    assert.equal(url.searchParams.get('token'), 'abc');
    assert.equal(url.searchParams.get('domain'), '*.x.example');
  } finally {
    await ask.close();
  }
});

test('ask answering 403 or 500 refuses with MS_ERR_POLICY naming the name and the status', async () => {
  const ask = await askServer();
  try {
    for (const status of [403, 500, 404, 301]) {
      ask.status = status;
      await assert.rejects(new OnDemandPolicy({ ask: ask.url }).authorize('a.example.com'), isPolicyError(new RegExp(`a\\.example\\.com.*${status}`)));
    }
  } finally {
    await ask.close();
  }
});

test('an unreachable ask endpoint refuses with MS_ERR_POLICY', async () => {
  const ask = await askServer();
  const url = ask.url;
  await ask.close();
  await assert.rejects(new OnDemandPolicy({ ask: url }).authorize('a.example.com'), isPolicyError(/a\.example\.com refused: asking/));
});

test('an ask endpoint that does not answer in time refuses', async () => {
  const server = http.createServer(() => {
    // Never answers.
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const started = Date.now();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ask`;
    await assert.rejects(new OnDemandPolicy({ ask: url, askTimeoutMs: 100 }).authorize('slow.example.com'), isPolicyError(/slow\.example\.com/));
    assert.ok(Date.now() - started < 5_000);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('rate limit: burst 2 per 1000 ms refuses the third, allows again after the interval', async () => {
  const ask = await askServer(200);
  try {
    let now = 10_000;
    const policy = new OnDemandPolicy({ ask: ask.url, intervalMs: 1000, burst: 2, now: () => now });
    await policy.authorize('a.example.com');
    now += 10;
    await policy.authorize('b.example.com');
    now += 10;
    await assert.rejects(policy.authorize('c.example.com'), isPolicyError(/c\.example\.com.*rate limit of 2 per 1000 ms/));
    now = 10_500;
    await assert.rejects(policy.authorize('c.example.com'), isPolicyError(/rate limit/), 'still inside the interval');
    // The first issuance (at 10 000) has left the window; the second (at 10 010) has not.
    now = 11_000;
    await policy.authorize('c.example.com');
    await assert.rejects(policy.authorize('d.example.com'), isPolicyError(/rate limit/));
    now = 20_000;
    await policy.authorize('d.example.com');
    await policy.authorize('e.example.com');
  } finally {
    await ask.close();
  }
});

test('a name the ask endpoint refuses does not use up the rate-limit budget', async () => {
  const ask = await askServer(200);
  try {
    const policy = new OnDemandPolicy({ ask: ask.url, intervalMs: 1000, burst: 1, now: () => 0 });
    ask.status = 403;
    await assert.rejects(policy.authorize('no.example.com'), isPolicyError(/403/));
    ask.status = 200;
    await policy.authorize('yes.example.com');
  } finally {
    await ask.close();
  }
});

test('without interval and burst there is no rate limit', async () => {
  const ask = await askServer(200);
  try {
    const policy = new OnDemandPolicy({ ask: ask.url, now: () => 0 });
    for (let i = 0; i < 20; i++) await policy.authorize(`n${i}.example.com`);
    assert.equal(ask.seen.length, 20);
  } finally {
    await ask.close();
  }
});

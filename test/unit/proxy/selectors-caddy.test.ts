/**
 * The selection policies added from Caddy's selectionpolicies.go: weighted_round_robin,
 * random_choose, query, client_ip_hash and cookie, each against Caddy's semantics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createSelector, hostByHashing, cookieValue, type SelectionRequest } from '../../../src/proxy/selectors.ts';
import { UpstreamState } from '../../../src/proxy/upstream-state.ts';
import { closedPort, echoUpstream, front, parseEcho, proxyConfig, request } from './helpers.ts';

const passiveOff = { failDurationMs: 0, maxFails: 1, unhealthyStatus: [] };

function pool(n: number, down: readonly number[] = []): UpstreamState[] {
  return Array.from({ length: n }, (_, i) => {
    const up = new UpstreamState({ scheme: 'http', host: `10.0.0.${i + 1}`, port: 80 }, passiveOff);
    if (down.includes(i)) up.setActiveHealthy(false);
    return up;
  });
}

function req(over: Partial<SelectionRequest> = {}): SelectionRequest {
  return { clientIp: '192.0.2.1', resolvedClientIp: '192.0.2.1', uri: '/', headers: { host: 'example.test' }, secure: false, ...over };
}

function picks(ups: readonly UpstreamState[], sel: { select: (p: readonly UpstreamState[], r: SelectionRequest) => UpstreamState | undefined }, n: number): string[] {
  return Array.from({ length: n }, () => {
    const up = sel.select(ups, req());
    return up === undefined ? '-' : 'ABCD'[ups.indexOf(up)]!;
  });
}

test('weighted_round_robin follows Caddy: cumulative weights from position 1, weight 0 never chosen, down upstreams shift', () => {
  const cases: { weights: number[]; down?: number[]; expected: string }[] = [
    { weights: [3, 1], expected: 'AABAAABA' },
    { weights: [1, 1, 1], expected: 'BCABCA' },
    { weights: [2, 0, 1], expected: 'ACAACA' },
    // B is down: the index into the remaining A and C is taken modulo 2, as Caddy does.
    { weights: [1, 1, 1], down: [1], expected: 'CAACAA' },
    { weights: [5], expected: 'AAA' },
  ];
  for (const { weights, down = [], expected } of cases) {
    const ups = pool(weights.length, down);
    const sel = createSelector({ policy: 'weighted_round_robin', weights }, Math.random, ups);
    assert.equal(picks(ups, sel, expected.length).join(''), expected, `weights ${weights.join(' ')} down ${down.join(',')}`);
  }
  const ups = pool(2, [0, 1]);
  assert.equal(createSelector({ policy: 'weighted_round_robin', weights: [1, 1] }, Math.random, ups).select(ups, req()), undefined);
});

test('random_choose samples N available upstreams and takes the least loaded; an idle sampled one wins', () => {
  const ups = pool(5, [4]);
  const load = [3, 1, 0, 5];
  ups.forEach((up, i) => {
    for (let k = 0; k < (load[i] ?? 0); k++) up.acquire();
  });
  const cases: { random: number; expected: number }[] = [
    // 0.99: the reservoir keeps the first two (A=3, B=1): B.
    { random: 0.99, expected: 1 },
    // 0.5: C replaces slot 1 (floor(0.5*3)=1), D does not (floor(0.5*4)=2): A and C sampled, C idle.
    { random: 0.5, expected: 2 },
    // 0: every later one replaces slot 0, so D then B remain sampled... D=5, B=1: B.
    { random: 0, expected: 1 },
  ];
  for (const { random, expected } of cases) {
    const sel = createSelector({ policy: 'random_choose', choose: 2 }, () => random, ups);
    assert.equal(sel.select(ups, req()), ups[expected], `random ${random}`);
  }
  const wide = createSelector({ policy: 'random_choose', choose: 10 }, () => 0.3, ups);
  assert.equal(wide.select(ups, req()), ups[2], 'N above the pool size samples every available upstream');
});

test('query KEY hashes the joined values of the key; without it the fallback chooses', () => {
  const ups = pool(4);
  const sel = createSelector({ policy: 'query', queryKey: 'tenant', fallback: 'first' }, Math.random, ups);
  const pick = (uri: string): UpstreamState | undefined => sel.select(ups, req({ uri }));
  assert.equal(pick('/x?tenant=acme'), hostByHashing(ups, 'acme'));
  assert.equal(pick('/y?a=1&tenant=acme'), pick('/x?tenant=acme'), 'same key, same upstream whatever the path');
  assert.equal(pick('/x?tenant=a&tenant=b'), hostByHashing(ups, 'a,b'), 'repeated keys are joined with ","');
  assert.equal(pick('/x?tenant=caf%C3%A9'), hostByHashing(ups, 'café'), 'values are decoded');
  assert.equal(pick('/x'), ups[0], 'no query: the fallback (first)');
  assert.equal(pick('/x?tenant='), ups[0], 'empty value: the fallback');
  const spread = new Set(Array.from({ length: 40 }, (_, i) => pick(`/?tenant=t${i}`)));
  assert.ok(spread.size >= 3, 'different keys spread over the upstreams');
});

test('client_ip_hash hashes the resolved client IP ({client_ip}), ip_hash the peer', () => {
  const ups = pool(4);
  const clientIpHash = createSelector({ policy: 'client_ip_hash' });
  const ipHash = createSelector({ policy: 'ip_hash' });
  for (let i = 0; i < 20; i++) {
    const r = req({ clientIp: '10.1.1.1', resolvedClientIp: `203.0.113.${i}` });
    assert.equal(clientIpHash.select(ups, r), hostByHashing(ups, `203.0.113.${i}`));
    assert.equal(ipHash.select(ups, r), hostByHashing(ups, '10.1.1.1'));
  }
});

test('cookie: HMAC of the upstream address in a cookie, honoured while that upstream is available', () => {
  const ups = pool(3);
  const mac = (i: number, secret: string): string => createHmac('sha256', secret).update(`10.0.0.${i + 1}:80`).digest('hex');
  const sel = createSelector({ policy: 'cookie', cookie: { name: 'srv', secret: 's3cret' }, fallback: 'round_robin' }, Math.random, ups);
  const set: string[] = [];
  const withCookie = (cookie: string | undefined, over: Partial<SelectionRequest> = {}): UpstreamState | undefined =>
    sel.select(ups, req({ headers: cookie === undefined ? {} : { cookie }, setCookie: (v) => set.push(v), ...over }));

  const first = withCookie(undefined);
  const i = ups.indexOf(first!);
  assert.deepEqual(set, [`srv=${mac(i, 's3cret')}; Path=/; HttpOnly; SameSite=Lax`]);
  for (let k = 0; k < 5; k++) assert.equal(withCookie(`a=1; srv=${mac(i, 's3cret')}`), first, 'sticks despite round_robin fallback');
  assert.equal(set.length, 1, 'no new cookie while it sticks');

  withCookie(undefined, { secure: true });
  assert.match(set.at(-1)!, /; HttpOnly; Secure; SameSite=None$/, 'HTTPS: Secure and SameSite=None');
  assert.notEqual(withCookie(`srv=${mac(i, 'other-secret')}`), undefined, 'a cookie made with another secret matches nothing');
  assert.match(set.at(-1)!, /^srv=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Lax$/);

  ups[i]!.setActiveHealthy(false);
  const moved = withCookie(`srv=${mac(i, 's3cret')}`);
  assert.notEqual(moved, ups[i], 'its upstream down: the fallback chooses another');
  assert.equal(set.at(-1), `srv=${mac(ups.indexOf(moved!), 's3cret')}; Path=/; HttpOnly; SameSite=Lax`, 'and the cookie names it');

  const aged = createSelector({ policy: 'cookie', cookie: { name: 'lb', secret: '', maxAgeMs: 3_600_000 } }, () => 0, ups);
  aged.select(ups, req({ setCookie: (v) => set.push(v) }));
  assert.match(set.at(-1)!, /^lb=[0-9a-f]{64}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
});

test('cookieValue reads the first cookie of that name, unquoted, across Cookie lines', () => {
  assert.equal(cookieValue('a=1; lb=xyz; lb=other', 'lb'), 'xyz');
  assert.equal(cookieValue(['a=1', 'lb="q"'], 'lb'), 'q');
  assert.equal(cookieValue('alb=1', 'lb'), undefined);
  assert.equal(cookieValue(undefined, 'lb'), undefined);
});

test('lb_policy cookie through the proxy: Set-Cookie beside the upstream cookies, then the client sticks', { timeout: 15_000 }, async () => {
  const a = await echoUpstream('A');
  const b = await echoUpstream('B');
  const proxy = await front(proxyConfig([a.port, b.port], { lb: { policy: 'cookie', cookie: { name: 'lb', secret: 'k' }, fallback: 'round_robin' } }));
  try {
    const first = await request(proxy.port);
    const setCookie = first.headers['set-cookie'] ?? [];
    assert.equal(setCookie.length, 1);
    const cookie = setCookie[0]!.split(';')[0]!;
    const name = parseEcho(first).name;
    for (let k = 0; k < 4; k++) {
      const res = await request(proxy.port, { headers: { cookie } });
      assert.equal(parseEcho(res).name, name, 'the same upstream every time');
      assert.equal(res.headers['set-cookie'], undefined, 'no new cookie while it sticks');
    }
    const other = await request(proxy.port);
    assert.notEqual(parseEcho(other).name, name, 'without the cookie, round_robin moves on');
  } finally {
    await proxy.close();
    await a.close();
    await b.close();
  }
});

test('lb_policy cookie: a 502 still carries the cookie of the upstream chosen', { timeout: 15_000 }, async () => {
  const port = await closedPort();
  const proxy = await front(proxyConfig([port], { lb: { policy: 'cookie', cookie: { name: 'lb', secret: '' } } }));
  try {
    const res = await request(proxy.port);
    assert.equal(res.status, 502);
    assert.match(String(res.headers['set-cookie']), /^lb=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Lax$/);
  } finally {
    await proxy.close();
  }
});

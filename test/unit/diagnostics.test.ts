import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ACME_CHANNELS, publishAcmeEvent } from '../../src/acme/events.ts';
import { EVENT_NAMES, hasSubscribers, publish, subscribe, unsubscribe, type EventName } from '../../src/diagnostics.ts';

const SRC = join(import.meta.dirname, '../../src');

async function sources(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(SRC, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(relative(SRC, path), await readFile(path, 'utf8'));
  }
  return out;
}

/** Subscribes for the duration of fn and returns what arrived. */
async function collect(name: EventName, fn: () => void | Promise<void>): Promise<unknown[]> {
  const got: unknown[] = [];
  const onMessage = (message: unknown): void => void got.push(message);
  subscribe(name, onMessage);
  try {
    await fn();
  } finally {
    unsubscribe(name, onMessage);
  }
  return got;
}

test('every my-server:* channel named anywhere in src/ is listed in diagnostics.ts, and each listed one is used', async () => {
  const files = await sources();
  const listed = new Set<string>(EVENT_NAMES);
  for (const [file, text] of files) {
    for (const [name] of text.matchAll(/my-server:[a-z0-9-]+:[a-z0-9-]+/g)) {
      assert.ok(listed.has(name), `${file} names channel ${name}, which src/diagnostics.ts does not list`);
    }
  }
  for (const name of EVENT_NAMES) {
    const users = [...files].filter(([file, text]) => file !== 'diagnostics.ts' && text.includes(`'${name}'`));
    assert.ok(users.length > 0, `${name} is listed but nothing in src/ publishes or subscribes to it`);
  }
});

test('only diagnostics.ts and acme/events.ts make channels or publish on them', async () => {
  const publishers = new Set(['diagnostics.ts', join('acme', 'events.ts')]);
  for (const [file, text] of await sources()) {
    if (publishers.has(file) || !text.includes('node:diagnostics_channel')) continue;
    assert.doesNotMatch(text, /\.channel\(|\.publish\(|tracingChannel/, `${file} publishes on node:diagnostics_channel itself; use publish() of src/diagnostics.ts`);
  }
});

test("acme's channel names are the ones diagnostics.ts lists", () => {
  const acme = EVENT_NAMES.filter((n) => n.startsWith('my-server:acme:'));
  assert.deepEqual([...acme].sort(), Object.values(ACME_CHANNELS).sort());
});

test('publish hands the message object itself to every subscriber of its channel, and to no other', async () => {
  const message = { name: 'a.example', notAfter: new Date(0) };
  const other: unknown[] = [];
  const onOther = (m: unknown): void => void other.push(m);
  subscribe('my-server:cert:obtained', onOther);
  try {
    const got = await collect('my-server:cert:loaded', () => publish('my-server:cert:loaded', message));
    assert.equal(got.length, 1);
    assert.equal(got[0], message);
  } finally {
    unsubscribe('my-server:cert:obtained', onOther);
  }
  assert.deepEqual(other, []);
});

test('subscribe and unsubscribe switch hasSubscribers, which publish consults', async () => {
  assert.equal(hasSubscribers('my-server:storage:lock-lost'), false);
  const got = await collect('my-server:storage:lock-lost', () => {
    assert.equal(hasSubscribers('my-server:storage:lock-lost'), true);
    publish('my-server:storage:lock-lost', { name: 'n', path: '/locks/n' });
  });
  assert.deepEqual(got, [{ name: 'n', path: '/locks/n' }]);
  assert.equal(hasSubscribers('my-server:storage:lock-lost'), false);
  // Nobody listens: nothing is delivered and nothing throws.
  publish('my-server:storage:lock-lost', { name: 'n' });
});

test("acme's own publisher reaches subscribers of diagnostics.ts", async () => {
  const event = { type: 'order-created', orderUrl: 'https://ca.test/order/1', identifiers: [], attempt: 1 } as const;
  const got = await collect('my-server:acme:order-created', () => publishAcmeEvent(event));
  assert.deepEqual(got, [event]);
});

test('the compiler rejects an unknown event name and a message of the wrong shape', () => {
  // Never called: the checks are tsc's, run by the test command's typecheck.
  const wrong = (): void => {
    // @ts-expect-error: not an event
    publish('my-server:cert:lost', {});
    // @ts-expect-error: a cert:loaded message has a notAfter
    publish('my-server:cert:loaded', { name: 'a.example' });
    // @ts-expect-error: the acme events are typed from acme/events.ts
    publish('my-server:acme:error', { type: 'order-created' });
  };
  assert.equal(typeof wrong, 'function');
});

/**
 * The IPC send both sides of `workers N` use: a peer that died before this process noticed (the
 * window between a kill -9 and the 'exit' event) must fail the send quietly, never as an uncaught
 * 'error' event. Without it the primary died with EPIPE when it forwarded a certificate push to a
 * worker killed a moment earlier, and took every other worker down with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { sendMessage } from '../../../src/cluster/protocol.ts';

/** A child with an IPC channel that says 'ready' once it listens for messages. */
async function ipcChild(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'process.on("message", () => {}); process.send("ready")'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const [m] = (await once(child, 'message')) as [unknown];
  assert.equal(m, 'ready');
  return child;
}

/**
 * The child exited and its end of the channel is closed, while its parent has not reaped it: the
 * main thread is a zombie (Z) and no other thread is left. The main thread turns Z before the
 * others finish, and the descriptors, shared by all threads, close with the last one.
 */
function goneUnreaped(pid: number): boolean {
  const state = /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'latin1'))?.[1];
  return state === 'Z' && readdirSync(`/proc/${pid}/task`).length === 1;
}

test('a send to a peer that died unnoticed reports the write error to the callback, not as an uncaught error event', async () => {
  const child = await ipcChild();
  const pid = child.pid!;
  child.kill('SIGKILL');
  // Synchronously, so this process's event loop cannot see the death before the send: the child's
  // end of the channel is closed once it is a zombie, while child.connected still says true.
  const until = Date.now() + 5_000;
  while (!goneUnreaped(pid) && Date.now() < until);
  assert.ok(goneUnreaped(pid), 'the child exited');
  assert.equal(child.connected, true, 'the parent has not noticed yet');
  const failed = new Promise<Error>((resolve) => sendMessage(child, { t: 'ms:lead' }, resolve));
  const err = (await failed) as NodeJS.ErrnoException;
  assert.match(String(err.code), /^(EPIPE|ECONNRESET)$/, `the write failed: ${err.message}`);
  await once(child, 'exit');
});

test('a send over a channel already closed is dropped without calling back or throwing', async () => {
  const child = await ipcChild();
  child.kill('SIGKILL');
  await once(child, 'exit');
  assert.equal(child.connected, false);
  let called = false;
  sendMessage(child, { t: 'ms:lead' }, () => (called = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(called, false);
});

test('a send to a live peer arrives', async () => {
  const child = spawn(process.execPath, ['-e', 'process.on("message", (m) => { process.send(m); process.disconnect(); })'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  sendMessage(child, { t: 'ms:certs', names: ['a.test'] }, (err) => assert.fail(String(err)));
  const [echo] = (await once(child, 'message')) as [unknown];
  assert.deepEqual(echo, { t: 'ms:certs', names: ['a.test'] });
  await once(child, 'exit');
});

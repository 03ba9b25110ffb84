/**
 * pipeFile's buffer reuse asks the response hooks whether any holds chunks
 * (http/response-hooks.ts chunksRetained) rather than guessing from the framing: a hook that holds
 * chunks but keeps Content-Length still gets intact bytes, and one that re-frames but passes each
 * chunk on at once still lets the buffers be reused. Its own file: the pool is per process and
 * these tests count it from empty.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeFile, pooledBuffers } from '../../../src/files/file-stream.ts';
import { chunksRetained, countBodyBytes, responseHooks } from '../../../src/http/response-hooks.ts';
import { encodeResponse } from '../../../src/routes/encode.ts';
import { get, serve } from '../routes/serve.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-filestream-'));
after(() => rmSync(dir, { recursive: true, force: true }));
// Different bytes in every 256 KiB chunk, so a reused buffer shows as wrong bytes.
const data = randomBytes(1024 * 1024 + 17);
const file = path.join(dir, 'data.bin');
writeFileSync(file, data);

test('a hook that holds chunks but keeps Content-Length gets every byte intact, and no buffer goes back to the pool', async () => {
  assert.equal(pooledBuffers(), 0);
  const s = await serve((_req, res) => {
    const held: Buffer[] = [];
    responseHooks(res).add((next) => ({
      // Holds every chunk until the end; the framing (Content-Length) is left as it is.
      onChunk: (chunk) => {
        held.push(chunk);
        return true;
      },
      onEnd: (last) => {
        setImmediate(() => {
          for (const c of held) next.write(c);
          next.end(last);
        });
      },
      retainsChunks: () => true,
    }));
    res.setHeader('content-length', String(data.length));
    return pipeFile(res, file, data.length);
  });
  try {
    for (let i = 0; i < 2; i++) {
      const r = await get(s.port, '/');
      assert.equal(r.status, 200);
      assert.ok(r.body.equals(data), 'bytes held by the hook were not overwritten');
    }
    assert.equal(pooledBuffers(), 0, 'held buffers are never reused');
  } finally {
    await s.close();
  }
});

test('a hook that re-frames (no Content-Length) but passes each chunk on at once lets the buffers be reused', async () => {
  const s = await serve((_req, res) => {
    responseHooks(res).add((next) => ({
      onHead: () => res.removeHeader('content-length'),
      onChunk: (chunk) => next.write(chunk),
      retainsChunks: () => false,
    }));
    res.setHeader('content-length', String(data.length));
    return pipeFile(res, file, data.length);
  });
  try {
    const r = await get(s.port, '/');
    assert.ok(r.body.equals(data));
    assert.ok(pooledBuffers() > 0, 'buffers went back to the pool');
  } finally {
    await s.close();
  }
});

test('chunksRetained: none without hooks or with the byte counter; a body hook that does not say is taken to hold; encode only while compressing', async () => {
  const seen: Record<string, boolean> = {};
  const s = await serve((req, res) => {
    const kind = req.url!.slice(1);
    if (kind === 'counter') countBodyBytes(res);
    if (kind === 'silent') responseHooks(res).add((next) => ({ onChunk: (c) => next.write(c) }));
    if (kind === 'gzip' || kind === 'gzip-short') encodeResponse(req, res, ['gzip']);
    res.setHeader('content-type', 'text/plain');
    // Below encode's minimum length: not compressed, so nothing is held.
    if (kind === 'gzip-short') res.setHeader('content-length', '1');
    res.write(kind === 'gzip-short' ? 'x' : 'y'.repeat(4096));
    seen[kind] = chunksRetained(res);
    res.end();
  });
  try {
    for (const kind of ['plain', 'counter', 'silent', 'gzip', 'gzip-short']) {
      await get(s.port, `/${kind}`, { 'accept-encoding': 'gzip' });
    }
  } finally {
    await s.close();
  }
  assert.deepEqual(seen, { plain: false, counter: false, silent: true, gzip: true, 'gzip-short': false });
});

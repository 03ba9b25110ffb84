/**
 * Password hashes for basic_auth, in the forms Caddy accepts: bcrypt (`$2a$`/`$2b$`/`$2y$`,
 * Caddy's default) and argon2id (PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash`), each either
 * as written or base64-encoded (Caddy ≤ 2.7 printed them so; corpus case 25 uses that form).
 *
 * Checking a password must not stall the event loop: a bcrypt check at Caddy's default cost 14
 * takes seconds on a small machine. argon2id runs on Node's thread pool (crypto.argon2, Node ≥
 * 24.7); bcrypt runs in a worker thread with hash-wasm (no native addon, so the bundle and the
 * single executable need no compiler). Results are cached per hash and password, as Caddy does,
 * so only the first request with a given password pays.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as nodeCrypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { LRUCache } from 'lru-cache';

export type HashAlgorithm = 'bcrypt' | 'argon2id';

/** The hash as the library wants it, from the written or base64 form; undefined if neither. */
export function normalizeHash(written: string): { algorithm: HashAlgorithm; hash: string } | undefined {
  const asIs = classify(written);
  if (asIs) return asIs;
  if (!/^[A-Za-z0-9+/=_-]+$/.test(written)) return undefined;
  return classify(Buffer.from(written, 'base64').toString('utf8'));
}

function classify(h: string): { algorithm: HashAlgorithm; hash: string } | undefined {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(h)) return { algorithm: 'bcrypt', hash: h };
  if (parseArgon2(h) !== undefined) return { algorithm: 'argon2id', hash: h };
  return undefined;
}

interface Argon2Params {
  readonly memory: number;
  readonly passes: number;
  readonly parallelism: number;
  readonly salt: Buffer;
  readonly tag: Buffer;
}

function parseArgon2(h: string): Argon2Params | undefined {
  const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(h);
  if (!m) return undefined;
  return {
    memory: Number(m[1]),
    passes: Number(m[2]),
    parallelism: Number(m[3]),
    salt: Buffer.from(m[4] as string, 'base64'),
    tag: Buffer.from(m[5] as string, 'base64'),
  };
}

const cache = new LRUCache<string, boolean>({ max: 1000 });

export async function verifyPassword(password: string, algorithm: HashAlgorithm, hash: string): Promise<boolean> {
  const key = createHash('sha256').update(hash).update('\0').update(password).digest('base64');
  const known = cache.get(key);
  if (known !== undefined) return known;
  const ok = algorithm === 'bcrypt' ? await bcryptCheck(password, hash) : await argon2Check(password, hash);
  cache.set(key, ok);
  return ok;
}

async function argon2Check(password: string, hash: string): Promise<boolean> {
  const p = parseArgon2(hash);
  if (p === undefined) return false;
  const tag = await argon2(password, p.salt, { ...p, tagLength: p.tag.length });
  return tag.length === p.tag.length && timingSafeEqual(tag, p.tag);
}

type Argon2Fn = (
  algorithm: 'argon2id',
  params: { message: string; nonce: Buffer; parallelism: number; tagLength: number; memory: number; passes: number },
  cb: (err: Error | null, key: Buffer) => void,
) => void;

function argon2(password: string, salt: Buffer, p: { memory: number; passes: number; parallelism: number; tagLength: number }): Promise<Buffer> {
  const fn = (nodeCrypto as unknown as { argon2?: Argon2Fn }).argon2;
  if (fn === undefined) return Promise.reject(new Error(`argon2id hashes need Node.js 24.7 or later (this is ${process.version})`));
  return new Promise((resolve, reject) => {
    fn('argon2id', { message: password, nonce: salt, parallelism: p.parallelism, tagLength: p.tagLength, memory: p.memory, passes: p.passes }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

// ---- bcrypt in a worker thread ----

let worker: Worker | null | undefined;
let nextId = 0;
const pending = new Map<number, (ok: boolean) => void>();

/**
 * The worker loads hash-wasm from where this process resolves it. In the one-file bundle there is
 * no such file: then the check runs here, blocking for its duration (said in docs/configuration.md).
 */
function bcryptWorker(): Worker | null {
  if (worker !== undefined) return worker;
  let spec: string;
  try {
    spec = import.meta.resolve('hash-wasm');
  } catch {
    return (worker = null);
  }
  const code = `
const { parentPort } = require('node:worker_threads');
import(${JSON.stringify(spec)}).then(({ bcryptVerify }) => {
  parentPort.on('message', async ({ id, password, hash }) => {
    let ok = false;
    try { ok = await bcryptVerify({ password, hash }); } catch {}
    parentPort.postMessage({ id, ok });
  });
});`;
  const w = new Worker(code, { eval: true });
  w.unref();
  w.on('message', ({ id, ok }: { id: number; ok: boolean }) => {
    pending.get(id)?.(ok);
    pending.delete(id);
    // An idle worker must not keep the process alive (a CLI command, a test).
    if (pending.size === 0) w.unref();
  });
  w.on('error', () => {
    // A broken worker fails the checks in flight (401) and the next check starts a new one.
    for (const settle of pending.values()) settle(false);
    pending.clear();
    worker = undefined;
  });
  return (worker = w);
}

function bcryptCheck(password: string, hash: string): Promise<boolean> {
  const w = bcryptWorker();
  if (w === null) return hashWasm().then(({ bcryptVerify }) => bcryptVerify({ password, hash })).catch(() => false);
  return new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    w.ref();
    w.postMessage({ id, password, hash });
  });
}

/** A new hash, as `my-server hash-password` prints it (bcrypt at cost 14, Caddy's; argon2id at OWASP's minimum: 46 MiB, 1 pass). */
export async function hashPassword(password: string, algorithm: HashAlgorithm): Promise<string> {
  if (algorithm === 'bcrypt') return (await hashWasm()).bcrypt({ password, salt: randomBytes(16), costFactor: 14, outputType: 'encoded' });
  const salt = randomBytes(16);
  const params = { memory: 47104, passes: 1, parallelism: 1, tagLength: 32 };
  const tag = await argon2(password, salt, params);
  return `$argon2id$v=19$m=${params.memory},t=${params.passes},p=${params.parallelism}$${salt.toString('base64').replace(/=+$/, '')}$${tag.toString('base64').replace(/=+$/, '')}`;
}

/** hash-wasm (a 284 KB module of inlined WebAssembly) is loaded by the first bcrypt in this thread, not by every config (issue 12). */
function hashWasm(): Promise<typeof import('hash-wasm')> {
  return import('hash-wasm');
}

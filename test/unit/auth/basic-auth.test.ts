/**
 * basic_auth with hashes Caddy 2.6.2's `caddy hash-password` printed (bcrypt, cost 14, as written
 * and base64-encoded as corpus case 25 has them) and argon2id from our own hashPassword.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, normalizeHash, verifyPassword } from '../../../src/auth/passwords.ts';
import { withSites } from '../routes/serve.ts';

// `caddy hash-password --plaintext hunter2` (Caddy 2.6.2).
const CADDY_BCRYPT = '$2a$14$rtrTqioCSKFDF9.ccVaHEOLqi1F/uYW7wdL6y2r14eLYaR5aVRGA2';
const CADDY_BCRYPT_B64 = Buffer.from(CADDY_BCRYPT).toString('base64');
const basic = (user: string, password: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

test('hash forms: bcrypt as written and base64, argon2id; anything else is refused', () => {
  assert.deepEqual(normalizeHash(CADDY_BCRYPT), { algorithm: 'bcrypt', hash: CADDY_BCRYPT });
  assert.deepEqual(normalizeHash(CADDY_BCRYPT_B64), { algorithm: 'bcrypt', hash: CADDY_BCRYPT });
  assert.equal(normalizeHash('hunter2'), undefined);
  assert.equal(normalizeHash('$2a$14$short'), undefined);
});

test('argon2id: a hash we make verifies its password and no other', async () => {
  const h = await hashPassword('s3cret', 'argon2id');
  assert.match(h, /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$/);
  assert.equal(normalizeHash(h)?.algorithm, 'argon2id');
  assert.equal(await verifyPassword('s3cret', 'argon2id', h), true);
  assert.equal(await verifyPassword('s3cret!', 'argon2id', h), false);
});

test('basic_auth: 401 with the realm, the right password passes, the check does not block other requests', async () => {
  const argon = await hashPassword('pw2', 'argon2id');
  await withSites(
    `
http://site.test:8080 {
	basicauth /private/* bcrypt "My Realm" {
		alice ${CADDY_BCRYPT_B64}
	}
	basic_auth /argon/* {
		bob ${argon}
	}
	respond "ok {path}"
}
`,
    async (request) => {
      const none = await request('/private/x');
      assert.equal(none.status, 401);
      assert.equal(none.headers['www-authenticate'], 'Basic realm="My Realm"');
      assert.equal((await request('/public')).body.toString(), 'ok /public');
      // A cost-14 bcrypt check takes seconds here: other requests must be answered meanwhile.
      const slow = request('/private/x', 'site.test', basic('alice', 'hunter2'));
      const started = Date.now();
      const fast = await request('/public');
      assert.equal(fast.status, 200);
      assert.ok(Date.now() - started < 1000, `a request waited ${Date.now() - started} ms behind a password check`);
      const ok = await slow;
      assert.equal(ok.status, 200);
      assert.equal(ok.body.toString(), 'ok /private/x');
      assert.equal((await request('/private/x', 'site.test', basic('alice', 'wrong'))).status, 401);
      assert.equal((await request('/private/x', 'site.test', basic('mallory', 'hunter2'))).status, 401);
      assert.equal((await request('/argon/y', 'site.test', basic('bob', 'pw2'))).status, 200);
      assert.equal((await request('/argon/y', 'site.test', basic('bob', 'pw3'))).status, 401);
    },
  );
});

test('my-server hash-password prints a hash that basic_auth accepts (argon2id from a pipe, bcrypt from --plaintext)', async () => {
  const { execFile } = await import('node:child_process');
  const run = (args: string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const child = execFile(process.execPath, ['src/main.ts', 'hash-password', ...args], (err, stdout) => (err ? reject(err) : resolve(stdout.trim())));
      child.stdin?.end(input ?? '');
    });
  const argon = await run(['--algorithm', 'argon2id'], 'piped-pw\n');
  assert.equal(await verifyPassword('piped-pw', 'argon2id', argon), true);
  const bcrypt = await run(['--plaintext', 'flag-pw']);
  assert.match(bcrypt, /^\$2a\$14\$/);
  assert.equal(await verifyPassword('flag-pw', 'bcrypt', bcrypt), true);
});

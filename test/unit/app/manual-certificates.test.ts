/**
 * `tls CERT KEY` certificates go through a ContextCache (certs/context-cache.ts) like managed ones:
 * served by name and wildcard, one context for sites naming the same files, a key that does not
 * match its certificate refused at load with the site's position.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type SecureContext } from 'node:tls';
import { Generation } from '../../../src/app/generation.ts';
import type { Issuer } from '../../../src/certs/issuer.ts';
import { parseConfig } from '../../../src/config/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { TLS_CONTEXT_OPTIONS } from '../../../src/tls/tls-front.ts';

const dir = mkdtempSync(join(tmpdir(), 'manual-certs-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
function pair(name: string, san: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

async function build(text: string): Promise<Generation> {
  const config = await parseConfig(text, { filename: 'Proxyfile', env: {} });
  return Generation.build(config, { for: () => ({}) as Issuer }, silentLogger(), TLS_CONTEXT_OPTIONS);
}

/** The CN a client sees when the server answers its SNI with `contextFor`. */
async function servedCN(contextFor: (name: string) => SecureContext | undefined, servername: string): Promise<unknown> {
  const server = tls.createServer({ SNICallback: (n, cb) => cb(null, contextFor(n)) }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as { port: number };
    return await new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().subject.CN);
        s.destroy();
      });
      s.once('error', reject);
    });
  } finally {
    server.close();
  }
}

test('names and wildcards are served their files; sites naming the same files share one context', async () => {
  const a = pair('a', 'DNS:a.test');
  const shared = pair('shared', 'DNS:b.test,DNS:c.test');
  const wild = pair('wild', 'DNS:*.w.test');
  const gen = await build(`a.test {\n\ttls ${a.cert} ${a.key}\n\trespond "a"\n}\nb.test {\n\ttls ${shared.cert} ${shared.key}\n\trespond "b"\n}\nc.test {\n\ttls ${shared.cert} ${shared.key}\n\trespond "c"\n}\n*.w.test {\n\ttls ${wild.cert} ${wild.key}\n\trespond "w"\n}\n`);
  try {
    assert.equal(await servedCN((n) => gen.manualFor(n), 'a.test'), 'a');
    assert.equal(await servedCN((n) => gen.manualFor(n), 'x.w.test'), 'wild');
    assert.equal(await servedCN((n) => gen.manualFor(n), 'c.test'), 'shared');
    assert.ok(gen.manualFor('b.test') !== undefined);
    assert.equal(gen.manualFor('b.test'), gen.manualFor('c.test'), 'one context for one pair of files');
    assert.equal(gen.manualFor('a.test'), gen.manualFor('a.test'), 'a hot context is kept, not rebuilt');
    assert.equal(gen.manualFor('nope.test'), undefined);
    assert.equal(gen.manualFor('x.y.w.test'), undefined, 'a wildcard covers one label');
    assert.deepEqual(gen.manualFiles, [a.cert, a.key, shared.cert, shared.key, wild.cert, wild.key]);
  } finally {
    await gen.close();
  }
});

test('a key that does not match its certificate is a config error naming the site, at load', async () => {
  const a = pair('a2', 'DNS:a.test');
  const b = pair('b2', 'DNS:b.test');
  await assert.rejects(build(`a.test {\n\ttls ${a.cert} ${b.key}\n\trespond "a"\n}\n`), (err: Error) => {
    assert.match(err.message, /^Proxyfile:2:\d+: loading tls .*a2\.crt .*b2\.key: /);
    return true;
  });
});

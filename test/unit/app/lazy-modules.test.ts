/**
 * Idle memory (issue 12): the module graph of `my-server run` loads no package a config may not
 * use. @peculiar/x509 (with reflect-metadata and tsyringe) is loaded at the first local-CA
 * issuance, CSR or TLS-ALPN-01 certificate; jose at the first JWS; hash-wasm at the first bcrypt
 * outside its worker; undici by the paths of its Pool
 * and connector, never its index (fetch, WebSocket, mocks); and node:http is taken through
 * src/util/node-http.ts, since an ES-module import of it loads Node's own bundled undici. Each
 * check fails on a static import coming back. Measured costs: docs/design.md "Idle and
 * per-certificate memory (issue 12)".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs `body` in a child Node; returns the package paths it resolved and whether Node's bundled undici loaded. */
async function loadedBy(body: string): Promise<{ packages: string[]; nodeUndici: boolean }> {
  const script = `
import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); const m = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\/(.*)$/.exec(r.url); if (m) seen.add(m[1] + '/' + m[2]); return r; } });
${body}
console.log(JSON.stringify({ packages: [...seen], nodeUndici: process.moduleLoadList.includes('NativeModule internal/deps/undici/undici') }));
process.exit(0);
`;
  const { stdout } = await execFileP(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { packages: string[]; nodeUndici: boolean };
}

const of = (packages: readonly string[], name: string): string[] => packages.filter((p) => p.startsWith(`${name}/`));

test('the run module graph loads neither @peculiar/x509, reflect-metadata, jose, hash-wasm, undici\'s index nor Node\'s bundled undici', async () => {
  const { packages, nodeUndici } = await loadedBy(`
await import('./src/app.ts');
await import('./src/cli/run.ts');
await import('./src/proxy/transport.ts');
`);
  assert.ok(of(packages, 'undici').length > 0, 'the check saw no undici module at all (the transport needs its Pool)');
  for (const name of ['@peculiar/x509', 'reflect-metadata', 'tsyringe', 'jose', 'hash-wasm']) assert.deepEqual(of(packages, name), [], `${name} was loaded`);
  assert.deepEqual(of(packages, 'undici').filter((p) => p === 'undici/index.js'), [], "undici's index was loaded");
  assert.equal(nodeUndici, false, "Node's bundled undici (internal/deps/undici/undici) was loaded: an ES-module import of node:http?");
});

test('issuing from the local CA loads @peculiar/x509, a JWS jose, a bcrypt hash hash-wasm (so the checks above can see them)', async () => {
  const { packages } = await loadedBy(`
const { LocalIssuer } = await import('./src/certs/local-issuer.ts');
const { FileStorage } = await import('./src/storage/file-storage.ts');
const { generatePrivateKeyPem } = await import('./src/x509/keys.ts');
const { createLogger } = await import('./src/log.ts');
const { mkdtemp, rm } = await import('node:fs/promises');
const dir = await mkdtemp((await import('node:os')).tmpdir() + '/lazy-modules-');
const issuer = new LocalIssuer({ storage: new FileStorage(dir), log: createLogger({ level: 'silent' }) });
const issued = await issuer.issue({ names: ['lazy.example.test'], keyPem: await generatePrivateKeyPem('p256'), keyType: 'p256' });
await rm(dir, { recursive: true, force: true });
if (!issued.chainPem.includes('BEGIN CERTIFICATE')) throw new Error('no chain');
const { generateAccountKey, loadAccountKey, signAcmeJws } = await import('./src/acme/jws.ts');
await signAcmeJws({ key: loadAccountKey(await generateAccountKey()), url: 'https://ca.test/new-nonce', nonce: 'n', payload: {} });
const { hashPassword } = await import('./src/auth/passwords.ts');
if (!(await hashPassword('lazy', 'bcrypt')).startsWith('$2')) throw new Error('no bcrypt hash');
`);
  assert.ok(of(packages, '@peculiar/x509').length > 0, '@peculiar/x509 was not loaded by an issuance');
  assert.ok(of(packages, 'jose').length > 0, 'jose was not loaded by a signature');
  assert.ok(of(packages, 'hash-wasm').length > 0, 'hash-wasm was not loaded by a bcrypt hash');
});

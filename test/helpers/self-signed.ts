import { after, before } from 'node:test';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/** A temp dir holding a self-signed certificate; the fields are filled in by the file's before() hook. */
export interface SelfSignedFixture {
  /** The temp dir (key.pem, cert.pem); tests may put other files here. Removed in after(). */
  readonly dir: string;
  /** PEM private key (P-256). */
  readonly key: string;
  /** PEM certificate for DNS:`name`, valid one day. */
  readonly cert: string;
}

/**
 * Registers before()/after() hooks in the calling test file: before, a temp dir named `prefix…` with
 * a one-day self-signed P-256 certificate for `name` made by openssl; after, the dir is removed.
 * Read the fields only from tests and hooks: they are empty strings until before() has run.
 */
export function selfSignedFixture(prefix: string, name: string): SelfSignedFixture {
  const fixture = { dir: '', key: '', cert: '' };
  before(async () => {
    fixture.dir = await mkdtemp(path.join(tmpdir(), prefix));
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`,
      '-keyout', path.join(fixture.dir, 'key.pem'), '-out', path.join(fixture.dir, 'cert.pem'),
    ]);
    fixture.key = await readFile(path.join(fixture.dir, 'key.pem'), 'utf8');
    fixture.cert = await readFile(path.join(fixture.dir, 'cert.pem'), 'utf8');
  });
  after(async () => {
    await rm(fixture.dir, { recursive: true, force: true });
  });
  return fixture;
}

/**
 * Caddy's issuer spellings reach a real CA, through `my-server certs obtain` against Pebble:
 * `preferred_chains { root_common_name }` downloads Pebble's alternate chain (RFC 8555 §7.4.2,
 * Link rel="alternate"), and a site's own `tls { issuer acme { eab … } }` binds the account on a
 * Pebble that requires External Account Binding, with no global acme_eab.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { topIssuerCommonName } from '../../src/acme/flow.ts';
import { runCli, tempProxyfile } from '../helpers/cli.ts';
import { pebbleGlobals, startPebble, type Pebble, type PebbleOptions } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';

interface Obtained {
  readonly code: number | null;
  readonly out: string;
  readonly chain?: string;
  /** Subject CNs of Pebble's roots: [default chain's, first alternate's]. */
  readonly roots: readonly string[];
}

/** `certs obtain a.test` with Pebble's globals plus `globals(pebble)` and `sites`; the stored chain on success. */
async function obtain(pebbleOptions: PebbleOptions, globals: (roots: readonly string[]) => string, sites = ''): Promise<Obtained> {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const pebble: Pebble = await startPebble({ ...pebbleOptions, httpPort, tlsPort: httpsPort });
  const tmp = await tempProxyfile('');
  try {
    const roots: string[] = [];
    for (let i = 0; i <= (pebbleOptions.alternateRoots ?? 0); i++) {
      roots.push(new X509Certificate(await pebble.rootsPem(i)).subject.replace(/^CN=/, ''));
    }
    const storage = join(tmp.dir, 'data');
    await writeFile(tmp.file, pebbleGlobals(pebble, { http: httpPort, https: httpsPort, storage }, globals(roots)) + sites);
    const r = await runCli(['certs', 'obtain', 'a.test', '--config', tmp.file]);
    const out = `${r.stdout}${r.stderr}`;
    if (r.code !== 0) return { code: r.code, out, roots };
    const issuerDir = (await readdir(join(storage, 'certificates')))[0]!;
    const chain = await readFile(join(storage, 'certificates', issuerDir, 'a.test', 'a.test.crt'), 'utf8');
    return { code: 0, out, chain, roots };
  } finally {
    await pebble.stop();
    await tmp.remove();
  }
}

test('preferred_chains root_common_name downloads the alternate chain; without it the default one', async () => {
  const preferred = await obtain({ alternateRoots: 1 }, (roots) => `\tpreferred_chains {\n\t\troot_common_name "${roots[1]}"\n\t}\n`);
  assert.equal(preferred.code, 0, preferred.out);
  assert.equal(topIssuerCommonName(preferred.chain!), preferred.roots[1]);

  const plain = await obtain({ alternateRoots: 1 }, () => '');
  assert.equal(plain.code, 0, plain.out);
  assert.equal(topIssuerCommonName(plain.chain!), plain.roots[0]);
  assert.notEqual(plain.roots[0], plain.roots[1]);
});

test("a site's issuer acme { eab } binds the account where the CA requires it; without it the CA refuses", async () => {
  const macKey = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
  const site = (eab: string): string => `a.test {\n\ttls {\n\t\tissuer acme {\n${eab}\t\t}\n\t}\n\trespond ok\n}\n`;
  const bound = await obtain({ eab: { 'kid-1': macKey } }, () => '', site(`\t\t\teab kid-1 ${macKey}\n`));
  assert.equal(bound.code, 0, bound.out);

  const unbound = await obtain({ eab: { 'kid-1': macKey } }, () => '', site(''));
  assert.notEqual(unbound.code, 0);
  assert.match(unbound.out, /externalAccountRequired|external account/i);
});

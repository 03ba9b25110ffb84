/**
 * Throwaway certificates for the benchmark: a root and an intermediate from the project's own local
 * CA code, one P-256 leaf for the measured site and, for the memory figure, one leaf (with its own
 * key) per extra site. Every candidate serves the same files, leaf + intermediate, so the handshake
 * carries the same chain everywhere.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createIntermediateCa, createRootCa, issueLeafCertificate, type CertifiedKey } from '../src/x509/local-ca.ts';
import { generatePrivateKeyPem } from '../src/x509/keys.ts';

/** Files of one site: `certFile` holds leaf then intermediate, `keyFile` the PKCS#8 key. */
export interface SiteCertificate {
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface BenchCertificates {
  /** The root, for clients that verify (PEM file path and text). */
  readonly rootFile: string;
  readonly rootPem: string;
  readonly main: SiteCertificate;
  /** `extraCount` further sites named `sNNNN.bench.test`. */
  readonly extra: readonly SiteCertificate[];
}

/** Zero-padded so names sort and have equal length (equal ClientHello sizes). */
export function extraSiteName(index: number): string {
  return `s${String(index).padStart(4, '0')}.bench.test`;
}

async function writeSite(dir: string, name: string, issuer: CertifiedKey, fileStem: string): Promise<SiteCertificate> {
  const keyPem = await generatePrivateKeyPem('p256');
  const { chainPem } = await issueLeafCertificate({ issuer, names: [name], keyPem, lifetimeMs: 2 * 24 * 3600 * 1000 });
  const certFile = join(dir, `${fileStem}.crt`);
  const keyFile = join(dir, `${fileStem}.key`);
  await writeFile(certFile, chainPem);
  await writeFile(keyFile, keyPem, { mode: 0o600 });
  return { name, certFile, keyFile };
}

/** Writes everything into `dir` (which must exist). Key generation runs in libuv's pool, so batches overlap. */
export async function createBenchCertificates(dir: string, mainName: string, extraCount: number): Promise<BenchCertificates> {
  const root = await createRootCa({ commonName: 'my-server bench root' });
  const intermediate = await createIntermediateCa(root, { commonName: 'my-server bench intermediate' });
  const rootFile = join(dir, 'root.crt');
  await writeFile(rootFile, root.certPem);
  const main = await writeSite(dir, mainName, intermediate, 'main');
  const extra: SiteCertificate[] = [];
  const batch = 50;
  for (let start = 0; start < extraCount; start += batch) {
    const indexes = Array.from({ length: Math.min(batch, extraCount - start) }, (_, i) => start + i);
    extra.push(...(await Promise.all(indexes.map((i) => writeSite(dir, extraSiteName(i), intermediate, `site-${i}`)))));
  }
  return { rootFile, rootPem: root.certPem, main, extra };
}

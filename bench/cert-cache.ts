/**
 * Stored certificates for the certificate-memory mode (issue 12): N local-CA certificates, each with
 * its own P-256 key, written once into a storage tree both my-server and Caddy read, then kept in a
 * cache folder so later runs only link them into each server's fresh storage.
 *
 * Why not the local CA's own issuance: through @peculiar/x509 a leaf costs ~10 ms of CPU here, and
 * through obtainCertificate (locks, fsyncs) far more, ~9 CPU-minutes for 10,000. Every leaf of the
 * bench has the same shape and differs only in serial, name, key and times, so it is assembled
 * from DER pieces and signed with node:crypto: ~0.3 ms a certificate, 10,000 in seconds. The root
 * and intermediate still come from src/x509/local-ca.ts.
 *
 * Layout (the same keys in both products): `storage/certificates/local/<name>/<name>.crt|.key|.json`.
 * The .json carries my-server's CertificateMeta and Caddy's (certmagic) `sans` + `issuer_data`:
 * each reads its own fields and ignores the others'.
 */
import { createHash, createPrivateKey, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { access, link, mkdir, readFile, readdir, rm, writeFile, copyFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { x509 } from '../src/x509/peculiar.ts';
import { createIntermediateCa, createRootCa } from '../src/x509/local-ca.ts';

const generateKeyPairAsync = promisify(generateKeyPair);

/** Names sort and have one length, so every ClientHello is the same size. */
export function cachedCertName(index: number): string {
  return `c${String(index).padStart(5, '0')}.mem.test`;
}

export interface CertCache {
  readonly dir: string;
  /** `storage/` inside `dir`: copy or link from it, never serve it (servers write to their storage). */
  readonly storage: string;
  readonly rootPem: string;
  readonly count: number;
  /** Seconds it took to prepare, or 0 when it came from the cache. */
  readonly preparedSeconds: number;
}

/** `$MY_SERVER_BENCH_CACHE`, else `$XDG_CACHE_HOME/my-server-bench`, else `~/.cache/my-server-bench`. */
export function defaultCacheDir(): string {
  const env = process.env['MY_SERVER_BENCH_CACHE'];
  if (env) return env;
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.cache'), 'my-server-bench');
}

// DER, just enough for one certificate shape.
function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
const seq = (...parts: Buffer[]): Buffer => tlv(0x30, ...parts);
const octets = (...parts: Buffer[]): Buffer => tlv(0x04, ...parts);
const hex = (h: string): Buffer => Buffer.from(h.replaceAll(' ', ''), 'hex');
const ECDSA_SHA256 = seq(hex('06 08 2a 86 48 ce 3d 04 03 02'));
const CRITICAL = hex('01 01 ff');
const EXT_BASIC_CONSTRAINTS = seq(hex('06 03 55 1d 13'), CRITICAL, octets(seq()));
const EXT_KEY_USAGE = seq(hex('06 03 55 1d 0f'), CRITICAL, octets(hex('03 02 07 80'))); // digitalSignature
const EXT_SERVER_AUTH = seq(hex('06 03 55 1d 25'), octets(seq(hex('06 08 2b 06 01 05 05 07 03 01'))));

function utcTime(d: Date): Buffer {
  const iso = d.toISOString(); // 2026-12-05T01:02:03.456Z → 261205010203Z
  return tlv(0x17, Buffer.from(`${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`, 'ascii'));
}

interface Issuer {
  readonly key: KeyObject;
  readonly subject: Buffer;
  readonly keyId: Buffer;
  readonly certPem: string;
  readonly commonName: string;
}

interface Leaf {
  readonly chainPem: string;
  readonly keyPem: string;
  readonly serialHex: string;
}

async function leaf(issuer: Issuer, name: string, notBefore: Date, notAfter: Date): Promise<Leaf> {
  const { publicKey, privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // The 65-byte point is the BIT STRING's content after its unused-bits byte, at the end of the SPKI.
  const ski = createHash('sha1').update(spki.subarray(spki.length - 65)).digest();
  // Positive and without a leading zero byte, so the hex is what a parser gives back.
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 1) & 0x7f) | 0x01;
  const nameUtf8 = Buffer.from(name, 'utf8');
  const tbs = seq(
    hex('a0 03 02 01 02'),
    tlv(0x02, serial),
    ECDSA_SHA256,
    issuer.subject,
    seq(utcTime(notBefore), utcTime(notAfter)),
    seq(tlv(0x31, seq(hex('06 03 55 04 03'), tlv(0x0c, nameUtf8)))),
    spki,
    tlv(
      0xa3,
      seq(
        seq(hex('06 03 55 1d 11'), octets(seq(tlv(0x82, nameUtf8)))),
        EXT_BASIC_CONSTRAINTS,
        EXT_KEY_USAGE,
        EXT_SERVER_AUTH,
        seq(hex('06 03 55 1d 0e'), octets(octets(ski))),
        seq(hex('06 03 55 1d 23'), octets(seq(tlv(0x80, issuer.keyId)))),
      ),
    ),
  );
  const signature = sign('sha256', tbs, issuer.key);
  const der = seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), signature));
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END CERTIFICATE-----\n`;
  return { chainPem: pem + issuer.certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, serialHex: serial.toString('hex') };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

const DAY_MS = 24 * 3600 * 1000;
/** Long enough that neither product finds a cached certificate due for renewal (both renew at a third left). */
const LIFETIME_MS = 60 * DAY_MS;
/** Regenerated before they come near renewal age, so a month-old cache is never served. */
const MAX_CACHE_AGE_MS = 10 * DAY_MS;

/** The `count` certificates in `cacheDir/certs-<count>`, generated when missing or older than 10 days. */
export async function certCache(cacheDir: string, count: number, progress: (m: string) => void): Promise<CertCache> {
  const dir = join(cacheDir, `certs-${count}`);
  const storage = join(dir, 'storage');
  const marker = join(dir, 'prepared.json');
  const prepared = (await exists(marker)) ? (JSON.parse(await readFile(marker, 'utf8')) as { at: string; count: number }) : undefined;
  if (prepared && prepared.count === count && Date.now() - Date.parse(prepared.at) < MAX_CACHE_AGE_MS) {
    return { dir, storage, rootPem: await readFile(join(dir, 'root.crt'), 'utf8'), count, preparedSeconds: 0 };
  }
  progress(`preparing ${count} stored certificates in ${dir} (once; cached for later runs)`);
  const began = performance.now();
  await rm(dir, { recursive: true, force: true });
  await mkdir(storage, { recursive: true });
  const root = await createRootCa({ commonName: 'my-server bench cache root' });
  const intermediate = await createIntermediateCa(root, { commonName: 'my-server bench cache intermediate' });
  const parsed = new x509.X509Certificate(intermediate.certPem);
  const keyId = parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  if (keyId === undefined) throw new Error('bench cache: the intermediate has no subject key identifier');
  const issuer: Issuer = {
    key: createPrivateKey(intermediate.keyPem),
    subject: Buffer.from(parsed.subjectName.toArrayBuffer()),
    keyId: Buffer.from(keyId, 'hex'),
    certPem: intermediate.certPem,
    commonName: parsed.subjectName.getField('CN').at(-1) ?? '',
  };
  const now = new Date();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + LIFETIME_MS);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const name = cachedCertName(next++);
      const l = await leaf(issuer, name, notBefore, notAfter);
      const folder = join(storage, 'certificates', 'local', name);
      await mkdir(folder, { recursive: true });
      const meta = {
        names: [name],
        issuer: 'local',
        issuerName: issuer.commonName,
        serialHex: l.serialHex,
        notBefore: notBefore.toISOString(),
        notAfter: notAfter.toISOString(),
        obtainedAt: now.toISOString(),
        keyType: 'p256',
        sans: [name],
        issuer_data: null,
      };
      await Promise.all([
        writeFile(join(folder, `${name}.crt`), l.chainPem),
        writeFile(join(folder, `${name}.key`), l.keyPem, { mode: 0o600 }),
        writeFile(join(folder, `${name}.json`), JSON.stringify(meta)),
      ]);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await writeFile(join(dir, 'root.crt'), root.certPem);
  await writeFile(marker, JSON.stringify({ at: now.toISOString(), count }));
  const preparedSeconds = (performance.now() - began) / 1000;
  progress(`prepared ${count} certificates in ${preparedSeconds.toFixed(1)} s`);
  return { dir, storage, rootPem: root.certPem, count, preparedSeconds };
}

/** A fresh storage folder holding the cache's certificates, hard-linked (copied across file systems). */
export async function linkCertStorage(cache: CertCache, target: string): Promise<void> {
  const from = join(cache.storage, 'certificates', 'local');
  const to = join(target, 'certificates', 'local');
  for (const name of await readdir(from)) {
    await mkdir(join(to, name), { recursive: true });
    for (const ext of ['crt', 'key', 'json']) {
      const file = `${name}.${ext}`;
      await link(join(from, name, file), join(to, name, file)).catch(() => copyFile(join(from, name, file), join(to, name, file)));
    }
  }
}

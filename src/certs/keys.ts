/**
 * The storage key layout, in one place. Everything certs/ keeps goes under these keys:
 *
 *   acme/<issuer>/accounts/<account>/account.key    account private key (PKCS#8 PEM)
 *   acme/<issuer>/accounts/<account>/account.json   { url, contact, createdAt }
 *   certificates/<issuer>/<name>/<name>.crt         PEM chain, leaf first
 *   certificates/<issuer>/<name>/<name>.key         leaf private key (PKCS#8 PEM)
 *   certificates/<issuer>/<name>/<name>.json        CertificateMeta
 *   certificates/<issuer>/<name>/<name>.pending     a save in progress: { keyPem, chainPem, meta }
 *   pki/local/root.crt|root.key|intermediate.crt|intermediate.key   built-in local CA
 *   lifecycle/<issuer>/<name>.json                  attempts and failures (lifecycle.ts lifecycleKey)
 *
 * <issuer> is "local" for the built-in CA, else the ACME directory's host and path made safe
 * ("acme-v02.api.letsencrypt.org-directory"), so certificates from two CAs never mix, and a
 * reload that changes a name's issuer finds the new issuer's certificate, if any, under its own key
 * (CertificateManager.manage).
 * <name> is the certificate's first name made safe ("*" → "wildcard_", ":" → "_").
 */

/** Safe single path segment: lower case, no separators, no leading dot. */
export function segment(value: string): string {
  const s = value
    .toLowerCase()
    .replace(/\*/g, 'wildcard_')
    .replace(/[^a-z0-9._@+-]/g, '_')
    .replace(/^\.+/, '_');
  return s === '' ? '_' : s;
}

export function issuerKey(directoryUrl: string): string {
  let u: URL;
  try {
    u = new URL(directoryUrl);
  } catch {
    return segment(directoryUrl);
  }
  return segment(`${u.host}${u.pathname}`.replace(/\/+$/, '').replace(/\//g, '-'));
}

export const LOCAL_ISSUER = 'local';

export function accountPrefix(issuer: string, email: string | undefined): string {
  return `acme/${segment(issuer)}/accounts/${segment(email ?? 'default')}`;
}
export const accountKeyKey = (issuer: string, email: string | undefined): string =>
  `${accountPrefix(issuer, email)}/account.key`;
export const accountMetaKey = (issuer: string, email: string | undefined): string =>
  `${accountPrefix(issuer, email)}/account.json`;

export function certificatePrefix(issuer: string, name: string): string {
  return `certificates/${segment(issuer)}/${segment(name)}`;
}
export function certificateKeys(issuer: string, name: string): { cert: string; key: string; meta: string } {
  const p = certificatePrefix(issuer, name);
  const n = segment(name);
  return { cert: `${p}/${n}.crt`, key: `${p}/${n}.key`, meta: `${p}/${n}.json` };
}
/**
 * A save's whole entry in one value, written before the three parts and deleted after them (see
 * CertificateStore). Not ".json": versions before it take every .json below certificates/ for
 * metadata, and would list it as a certificate.
 */
export function certificatePendingKey(issuer: string, name: string): string {
  return `${certificatePrefix(issuer, name)}/${segment(name)}.pending`;
}
export const CERTIFICATES_ROOT = 'certificates';

export const localCaKeys = {
  rootCert: 'pki/local/root.crt',
  rootKey: 'pki/local/root.key',
  intermediateCert: 'pki/local/intermediate.crt',
  intermediateKey: 'pki/local/intermediate.key',
} as const;

/** Lock names: one per certificate name, so two processes make one order for a name. */
export const issueLockName = (name: string): string => `issue_cert_${segment(name)}`;
/** Held around every write of one certificate's keys (save, roll-forward, remove); for milliseconds. */
export const certificateWriteLockName = (issuer: string, name: string): string => `write_cert_${segment(issuer)}/${segment(name)}`;
export const accountLockName = (issuer: string): string => `account_${segment(issuer)}`;
export const LOCAL_CA_LOCK = 'local_ca';

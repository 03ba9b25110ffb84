/** PKCS#10 certificate signing requests (RFC 2986) for ACME finalize (RFC 8555 §7.4). */
import { MyServerError } from '../errors.ts';
import { signingKeys } from './keys.ts';
import { classifyNames } from './names.ts';
import { x509 } from './peculiar.ts';
import { commonNameFor, subjectAltName, subjectName } from './subject.ts';

export interface CsrOptions {
  /** DNS names and IP literals (IPv6 with or without brackets); the order is kept, duplicates dropped. */
  readonly names: readonly string[];
  readonly privateKeyPem: string;
}

/**
 * A DER CSR for `names`: every name in subjectAltName (dNSName or iPAddress), the first DNS name
 * as the subject's commonName when it fits in 64 characters, else an empty subject. Signed with
 * the key's algorithm: ECDSA P-256/SHA-256, P-384/SHA-384, RSA PKCS#1 v1.5/SHA-256.
 */
export async function createCsr(options: CsrOptions): Promise<Uint8Array> {
  if (options.names.length === 0) throw new MyServerError('MS_ERR_X509', 'creating CSR: no names');
  const { dnsNames, ipAddresses } = classifyNames(options.names);
  const { keys, signingAlgorithm } = signingKeys(options.privateKeyPem);
  const commonName = commonNameFor(dnsNames);
  try {
    // The library carries the extensions in a PKCS#9 extensionRequest attribute (RFC 2985 §5.4.2).
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: subjectName(commonName),
      keys,
      signingAlgorithm,
      extensions: [subjectAltName(dnsNames, ipAddresses, commonName === undefined)],
    });
    return new Uint8Array(csr.rawData);
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', 'signing CSR', { cause: err });
  }
}

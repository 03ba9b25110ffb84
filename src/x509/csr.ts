/** PKCS#10 certificate signing requests (RFC 2986) for ACME finalize (RFC 8555 §7.4). */
import { MyServerError } from '../errors.ts';
import { contextTag, oid, sequence, setOf, smallInteger, tlv } from './der.ts';
import { OID, commonNameFor, distinguishedName, subjectAltName } from './extensions.ts';
import { privateKeyFromPem, publicKeySpki, signStructure } from './keys.ts';
import { classifyNames } from './names.ts';

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
  const key = privateKeyFromPem(options.privateKeyPem);
  const commonName = commonNameFor(dnsNames);
  const extensionRequest = sequence(
    oid(OID.extensionRequest),
    setOf(sequence(subjectAltName(dnsNames, ipAddresses, commonName === undefined))),
  );
  const info = sequence(
    smallInteger(0), // version v1(0), the only one (RFC 2986 §4.1)
    distinguishedName(commonName),
    publicKeySpki(key),
    tlv(contextTag(0, true), extensionRequest), // attributes [0] IMPLICIT SET OF Attribute
  );
  try {
    return new Uint8Array(await signStructure(info, key));
  } catch (err) {
    throw new MyServerError('MS_ERR_X509', 'signing CSR', { cause: err });
  }
}

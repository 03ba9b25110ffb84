/**
 * The x509 module's public surface. peculiar.ts (the one importer of @peculiar/x509), subject.ts
 * and pem.ts are internal to the folder.
 */
export { KEY_TYPES, generatePrivateKeyPem, keyTypeOf, privateKeyFromPem, privateKeyToPem, type KeyType } from './keys.ts';
export { createCsr, type CsrOptions } from './csr.ts';
export { certificateMatchesKey, parseCertificate, splitPemChain, type CertificateExtension, type CertificateInfo } from './certificate.ts';
export { acmeIdentifierValue, createTlsAlpnChallengeCertificate, type ChallengeIdentifier } from './tls-alpn-01.ts';
export {
  DEFAULT_LEAF_LIFETIME_MS,
  createIntermediateCa,
  createRootCa,
  issueLeafCertificate,
  type CaOptions,
  type CertifiedKey,
  type LeafOptions,
} from './local-ca.ts';
export { classifyNames, isIpAddress, normalizeIpAddress } from './names.ts';

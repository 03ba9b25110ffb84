/** What we record next to each stored certificate (certificates/<issuer>/<name>/<name>.json). */
export interface CertificateMeta {
  readonly names: readonly string[];
  /** ACME directory URL, or "local" for the built-in CA. */
  readonly issuer: string;
  /** The issuing certificate's common name, for humans. */
  readonly issuerName: string;
  readonly serialHex: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly obtainedAt: string;
  readonly keyType: string;
  readonly certificateUrl?: string;
  /** RFC 9773 suggested window, when the CA offers renewal information. */
  readonly ari?: {
    readonly start: string;
    readonly end: string;
    /** The moment inside the window we chose to renew at (chosen once, so restarts don't re-roll). */
    readonly renewAt: string;
    readonly checkedAt: string;
    /** Don't ask again before this (the CA's Retry-After). */
    readonly nextCheck?: string;
    readonly explanationUrl?: string;
  };
}

/**
 * When a certificate should be renewed: the ARI choice when the CA gave one, else when one third of
 * its lifetime is left (SPEC.md, "Renewal"), the same rule Caddy and certbot follow for 90-day
 * certificates (renew with 30 days left).
 */
export function renewalTime(meta: Pick<CertificateMeta, 'notBefore' | 'notAfter' | 'ari'>): Date {
  if (meta.ari) return new Date(meta.ari.renewAt);
  const nb = Date.parse(meta.notBefore);
  const na = Date.parse(meta.notAfter);
  return new Date(na - (na - nb) / 3);
}

export function needsRenewal(meta: Pick<CertificateMeta, 'notBefore' | 'notAfter' | 'ari'>, now: Date): boolean {
  return now.getTime() >= renewalTime(meta).getTime();
}

export function parseMeta(bytes: Buffer): CertificateMeta {
  return JSON.parse(bytes.toString('utf8')) as CertificateMeta;
}

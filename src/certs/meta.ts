import { chooseRenewalTime, renewalInfoCheckDelay } from '../acme/ari.ts';
import type { RenewalInfo } from '../acme/types.ts';

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
    /** When to ask the CA again: its Retry-After, clamped to [1 min, 24 h] (6 h without one). */
    readonly nextCheck?: string;
    readonly explanationUrl?: string;
    /**
     * When the CA moved the window earlier than the one we had (RFC 9773 §4.2, e.g. ahead of a
     * revocation): the CA asks for the renewal, so neither the minimum age nor the order limit
     * holds it back.
     */
    readonly movedEarlierAt?: string;
  };
}

/**
 * A certificate younger than this share of its own lifetime (notAfter - notBefore) is never due,
 * measured from `obtainedAt` on our own clock. A clock running ahead (80 days, on a 90-day
 * certificate) otherwise finds each new certificate already past its renewal time, and renews it
 * once a minute for ever; with this floor it renews once per tenth of a lifetime (nine days) at
 * worst. A tenth, because the lifetime rule and ARI windows sit far later than that.
 */
export const MIN_AGE_SHARE = 1 / 10;

/**
 * When a certificate should be renewed: the ARI choice when the CA gave one, else when one third of
 * its lifetime is left (SPEC.md, "Renewal"), the same rule Caddy and certbot follow for 90-day
 * certificates (renew with 30 days left); never before it is MIN_AGE_SHARE of its lifetime old
 * (by `obtainedAt`, our clock), unless the CA moved its window earlier.
 *
 * The two clocks are kept apart on purpose: notBefore/notAfter and the ARI window are the CA's
 * time, `obtainedAt` is ours. A certificate just issued is judged by its own span, so a local clock
 * that is days off can make a renewal early or late, but never immediate.
 */
export function renewalTime(meta: Pick<CertificateMeta, 'notBefore' | 'notAfter' | 'ari'> & { readonly obtainedAt?: string }): Date {
  const nb = Date.parse(meta.notBefore);
  const na = Date.parse(meta.notAfter);
  // A CA window is followed, also later than the one-third rule, but never to within the last
  // tenth of the lifetime: a window at or past notAfter (a CA bug) must not let the name expire.
  const due = meta.ari ? Math.min(Date.parse(meta.ari.renewAt), na - (na - nb) / 10) : na - (na - nb) / 3;
  const obtained = meta.obtainedAt !== undefined ? Date.parse(meta.obtainedAt) : NaN;
  if (Number.isNaN(obtained) || meta.ari?.movedEarlierAt !== undefined) return new Date(due);
  return new Date(Math.max(due, obtained + (na - nb) * MIN_AGE_SHARE));
}

export function needsRenewal(meta: Pick<CertificateMeta, 'notBefore' | 'notAfter' | 'ari'> & { readonly obtainedAt?: string }, now: Date): boolean {
  return now.getTime() >= renewalTime(meta).getTime();
}

export type AriMeta = NonNullable<CertificateMeta['ari']>;

/**
 * The `ari` record after the CA answered a renewalInfo request at `now`. The renewal time is kept
 * while the window is the one it was chosen in, so polling never re-rolls it; when the CA moved
 * the window it is chosen anew, uniformly inside the new one (RFC 9773 §4.2), which may put it in
 * the past: "If the selected time is in the past, attempt renewal immediately." `random` as for
 * chooseRenewalTime.
 */
export function updatedAri(previous: AriMeta | undefined, info: RenewalInfo, now: Date, random?: () => number): AriMeta {
  const start = info.suggestedWindow.start.toISOString();
  const end = info.suggestedWindow.end.toISOString();
  const keep = previous !== undefined && !ariWindowMoved(previous, { start, end });
  // Only a move to an earlier start is the CA asking for a renewal; a window moved later, or the
  // first one we see, is the CA's ordinary schedule.
  const movedEarlierAt = keep
    ? previous.movedEarlierAt
    : previous !== undefined && Date.parse(start) < Date.parse(previous.start)
      ? now.toISOString()
      : undefined;
  return {
    start,
    end,
    renewAt: keep ? previous.renewAt : chooseRenewalTime(info.suggestedWindow, random).toISOString(),
    checkedAt: now.toISOString(),
    nextCheck: new Date(now.getTime() + renewalInfoCheckDelay(info.retryAfterMs)).toISOString(),
    ...(info.explanationURL !== undefined ? { explanationUrl: info.explanationURL } : {}),
    ...(movedEarlierAt !== undefined ? { movedEarlierAt } : {}),
  };
}

/** Whether the window differs from the one `before` recorded (a new check time alone is no move). */
export function ariWindowMoved(before: AriMeta | undefined, after: Pick<AriMeta, 'start' | 'end'>): boolean {
  return before === undefined || Date.parse(before.start) !== Date.parse(after.start) || Date.parse(before.end) !== Date.parse(after.end);
}

export function parseMeta(bytes: Buffer): CertificateMeta {
  return JSON.parse(bytes.toString('utf8')) as CertificateMeta;
}

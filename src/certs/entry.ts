import type { KeyType } from '../x509/keys.ts';
import type { StoredCertificate } from './certificate-store.ts';
import type { Issuer } from './issuer.ts';

/** How a name gets its certificate. */
export interface NamePolicy {
  readonly issuer: Issuer;
  readonly keyType: KeyType;
}

/**
 * One name the certificate manager serves: its loaded certificate and the state of its renewal
 * (renewal-schedule.ts) and renewal-information checks (ari-refresh.ts). Shared by those modules
 * and the manager, all on one event loop; only the manager creates and removes entries.
 */
export interface Entry {
  readonly name: string;
  policy: NamePolicy;
  cert?: StoredCertificate;
  /** The next renewal attempt (or its retry). */
  timer?: unknown;
  failures: number;
  /** The next renewal-information check (RFC 9773), for issuers that offer it. */
  ariTimer?: unknown;
  /** Renewal-information fetches failed in a row. */
  ariFailures: number;
  /** Managed names stay; on-demand ones live in the LRU only. */
  readonly managed: boolean;
  /** No longer configured (or evicted): never scheduled again. */
  removed?: boolean;
  /** The CA refused the name for good (certs/holds.ts): retried at a reload, a restart or the park's end. */
  parked?: boolean;
}

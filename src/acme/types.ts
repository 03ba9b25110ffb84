/**
 * The ACME resources as the CA sends them (RFC 8555 §7.1), with the fields this client reads.
 * Objects keep whatever else the CA sent; only the listed fields are relied upon.
 */

/** RFC 8555 §7.1.4 and RFC 8738: "dns" names or "ip" address literals. */
export interface Identifier {
  readonly type: 'dns' | 'ip';
  readonly value: string;
}

/** A problem document as received (RFC 8555 §6.7, RFC 7807). */
export interface ProblemDocument {
  readonly type?: string;
  readonly detail?: string;
  readonly status?: number;
  readonly instance?: string;
  readonly identifier?: Identifier;
  readonly subproblems?: readonly ProblemDocument[];
  readonly [extra: string]: unknown;
}

export interface DirectoryMeta {
  readonly termsOfService?: string;
  readonly website?: string;
  readonly caaIdentities?: readonly string[];
  readonly externalAccountRequired?: boolean;
  /** draft-ietf-acme-profiles: profile name → human-readable description or URL. */
  readonly profiles?: Readonly<Record<string, string>>;
}

/** RFC 8555 §7.1.1; `renewalInfo` from RFC 9773 §3. */
export interface Directory {
  readonly newNonce: string;
  readonly newAccount: string;
  readonly newOrder: string;
  readonly newAuthz?: string;
  readonly revokeCert: string;
  readonly keyChange: string;
  readonly renewalInfo?: string;
  readonly meta?: DirectoryMeta;
}

export type AccountStatus = 'valid' | 'deactivated' | 'revoked';

export interface Account {
  /** The account URL (the `kid` of every later request), from the Location header. */
  readonly url: string;
  readonly status: AccountStatus;
  readonly contact?: readonly string[];
  readonly termsOfServiceAgreed?: boolean;
  readonly orders?: string;
}

export type OrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';

export interface Order {
  /** The order URL, from the Location header of newOrder (RFC 8555 §7.4). */
  readonly url: string;
  readonly status: OrderStatus;
  readonly expires?: string;
  readonly identifiers: readonly Identifier[];
  readonly notBefore?: string;
  readonly notAfter?: string;
  readonly error?: ProblemDocument;
  readonly authorizations: readonly string[];
  readonly finalize: string;
  readonly certificate?: string;
  /** RFC 9773 §5 */
  readonly replaces?: string;
  /** draft-ietf-acme-profiles */
  readonly profile?: string;
  /** The response's Retry-After, in ms from receipt; a hint for polling (RFC 8555 §7.4). */
  readonly retryAfterMs?: number;
}

export type ChallengeStatus = 'pending' | 'processing' | 'valid' | 'invalid';

export interface Challenge {
  readonly type: string;
  readonly url: string;
  readonly status: ChallengeStatus;
  readonly token?: string;
  readonly validated?: string;
  readonly error?: ProblemDocument;
}

export type AuthorizationStatus = 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';

export interface Authorization {
  /** The URL this authorization was fetched from. */
  readonly url: string;
  readonly identifier: Identifier;
  readonly status: AuthorizationStatus;
  readonly expires?: string;
  readonly challenges: readonly Challenge[];
  readonly wildcard?: boolean;
  readonly retryAfterMs?: number;
}

/** RFC 9773 §4.2 */
export interface RenewalInfo {
  readonly suggestedWindow: { readonly start: Date; readonly end: Date };
  readonly explanationURL?: string;
  /** From the Retry-After header: when to ask again, in ms from receipt. */
  readonly retryAfterMs?: number;
}

export interface CertificateChain {
  /** The PEM chain, leaf first, as the CA sent it. */
  readonly pem: string;
  /** URLs of alternate chains (Link rel="alternate", RFC 8555 §7.4.2). */
  readonly alternates: readonly string[];
}

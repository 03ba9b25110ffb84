/**
 * The seam between the ACME flow and whatever answers challenges. The ACME client calls `present`
 * before telling the CA a challenge is ready, and `cleanup` after the authorization is settled
 * (valid or not). Solvers keep their state in a ChallengeStore so that any instance of a cluster
 * can answer the CA.
 */
export interface ChallengeInfo {
  /** "http-01" | "tls-alpn-01" | ... */
  readonly type: string;
  readonly token: string;
  /** token || '.' || base64url(JWK_Thumbprint(accountKey)) (RFC 8555 §8.1) */
  readonly keyAuthorization: string;
  /** The identifier being validated: a DNS name or an IP address literal. */
  readonly identifier: { readonly type: 'dns' | 'ip'; readonly value: string };
}

export interface Solver {
  present(challenge: ChallengeInfo, signal?: AbortSignal): Promise<void>;
  cleanup(challenge: ChallengeInfo): Promise<void>;
}

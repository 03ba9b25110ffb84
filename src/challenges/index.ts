/** The challenges module's public surface. */
export type { ChallengeInfo, Solver } from './solver.ts';
export { ChallengeStore, DEFAULT_CHALLENGE_TTL_MS, type ChallengeKind, type ChallengeStoreOptions, type PendingChallenge } from './challenge-store.ts';
export { HTTP01_PATH_PREFIX, Http01Solver } from './http-01.ts';
export {
  ACME_TLS_ALPN_PROTOCOL,
  TlsAlpn01Solver,
  createAcmeTlsServerOptions,
  type AcmeTlsServerOptions,
  type ChallengeContextSource,
} from './tls-alpn-01.ts';
export { ChallengeServers, type ChallengeServersOptions } from './challenge-servers.ts';
export { identifierForHost, identifierForServerName, identifierKey } from './identifiers.ts';

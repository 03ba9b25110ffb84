/**
 * Intermediate shapes produced by the directive parsers: only what the file says. adapt.ts fills
 * in the defaults and turns drafts into the final types.
 */
import type { ParsedAddress } from './address.ts';
import type {
  AccessLogConfig,
  EncodeRoute,
  GlobalOptions,
  HeaderOp,
  HeaderRoute,
  LbPolicy,
  PathMatcher,
  Pos,
  RedirRoute,
  RespondRoute,
  StatusMatch,
  TlsConfig,
  UpstreamConfig,
} from './types.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export type GlobalsDraft = Partial<Mutable<Omit<GlobalOptions, 'sources' | 'log'>>> & {
  log?: { output?: GlobalOptions['log']['output']; format?: 'json' | 'console'; level?: GlobalOptions['log']['level'] };
  sources: Mutable<GlobalOptions['sources']>;
};

export interface TransportDraft {
  dialTimeoutMs?: number;
  responseHeaderTimeoutMs?: number;
  readTimeoutMs?: number;
  tls?: boolean;
  tlsInsecureSkipVerify?: boolean;
  tlsServerName?: string;
  keepAliveMs?: number;
}

export interface ReverseProxyDraft {
  kind: 'reverse_proxy';
  pos: Pos;
  matcher?: PathMatcher;
  upstreams: UpstreamConfig[];
  lbPolicy?: LbPolicy;
  lbHeader?: string;
  lbRetries?: number;
  lbTryDurationMs?: number;
  lbTryIntervalMs?: number;
  healthUri?: string;
  healthIntervalMs?: number;
  healthTimeoutMs?: number;
  healthStatus?: StatusMatch;
  failDurationMs?: number;
  maxFails?: number;
  unhealthyStatus?: StatusMatch[];
  headerUp: HeaderOp[];
  headerDown: HeaderOp[];
  flushIntervalMs?: number;
  transport: TransportDraft;
}

export interface HandleDraft {
  kind: 'handle';
  pos: Pos;
  matcher?: PathMatcher;
  stripPrefix?: string;
  routes: RouteDraft[];
}

export type RouteDraft = ReverseProxyDraft | RedirRoute | RespondRoute | HeaderRoute | EncodeRoute | HandleDraft;

export type TlsDraft = Partial<Mutable<TlsConfig>> & { pos: Pos; onDemandPos?: Pos };

export type AccessLogDraft = Partial<Mutable<Omit<AccessLogConfig, 'pos'>>> & { pos: Pos };

export interface SiteDraft {
  pos: Pos;
  addresses: ParsedAddress[];
  tls?: TlsDraft;
  routes: RouteDraft[];
  log?: AccessLogDraft;
}

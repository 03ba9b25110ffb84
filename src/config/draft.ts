/**
 * Intermediate shapes produced by the directive parsers: only what the file says. adapt.ts fills
 * in the defaults and turns drafts into the final types. reverse_proxy has no draft: its parser
 * starts from PROXY_DEFAULTS and builds the final ReverseProxyRoute itself.
 */
import type { ParsedAddress } from './address.ts';
import type {
  AccessLogConfig,
  EncodeRoute,
  GlobalOptions,
  HeaderRoute,
  MatcherSet,
  Pos,
  RedirRoute,
  RespondRoute,
  ResponseHandler,
  ReverseProxyRoute,
  Route,
  StatusMatch,
  TlsConfig,
} from './types.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export type GlobalsDraft = Partial<Mutable<Omit<GlobalOptions, 'sources' | 'log'>>> & {
  log?: Partial<Mutable<GlobalOptions['log']>>;
  sources: Mutable<GlobalOptions['sources']>;
};

export interface HandleDraft {
  kind: 'handle';
  pos: Pos;
  directive?: 'handle_errors';
  errorCodes?: StatusMatch[];
  matcher?: MatcherSet;
  stripPrefix?: string;
  routes: RouteDraft[];
}

/** `route { }`: its routes keep the order written. */
export interface RouteBlockDraft {
  kind: 'route';
  /** try_files with several query forms is a route block that sorts as try_files. */
  directive?: 'try_files';
  pos: Pos;
  matcher?: MatcherSet;
  routes: RouteDraft[];
}

/** reverse_proxy with its handle_response routes still unsorted. */
export type ReverseProxyDraft = Omit<ReverseProxyRoute, 'handleResponse'> & {
  handleResponse?: readonly ResponseHandler<RouteDraft>[];
};

export type RouteDraft =
  | ReverseProxyDraft
  | RedirRoute
  | RespondRoute
  | HeaderRoute
  | EncodeRoute
  | HandleDraft
  | RouteBlockDraft
  | Exclude<Route, { kind: 'handle' | 'route' | 'reverse_proxy' | 'redir' | 'respond' | 'header' | 'encode' }>;

export type TlsDraft = Partial<Mutable<TlsConfig>> & { pos: Pos; onDemandPos?: Pos };

export type AccessLogDraft = Partial<Mutable<Omit<AccessLogConfig, 'pos'>>> & { pos: Pos };

export interface SiteDraft {
  pos: Pos;
  addresses: ParsedAddress[];
  tls?: TlsDraft;
  routes: RouteDraft[];
  log?: AccessLogDraft;
}

/** The request values placeholders can name. Hosts are given as each caller wants them shown. */
export interface PlaceholderValues {
  readonly host: string;
  readonly hostport: string;
  readonly remoteHost: string;
  /** Caddy's client IP (trusted_proxies and client_ip_headers applied); absent: unknown here, ''. */
  readonly clientIp?: string;
  readonly scheme: string;
  readonly uri: string;
  readonly path: string;
  readonly query: string;
  readonly method: string;
  readonly upstreamHostport?: string;
}

/** Caddy's long names map onto the short ones ({http.request.host} is {host}). */
const ALIASES: Readonly<Record<string, keyof PlaceholderValues>> = {
  host: 'host',
  'http.request.host': 'host',
  hostport: 'hostport',
  'http.request.hostport': 'hostport',
  remote_host: 'remoteHost',
  remote: 'remoteHost',
  'http.request.remote.host': 'remoteHost',
  client_ip: 'clientIp',
  'http.vars.client_ip': 'clientIp',
  scheme: 'scheme',
  'http.request.scheme': 'scheme',
  uri: 'uri',
  'http.request.uri': 'uri',
  path: 'path',
  'http.request.uri.path': 'path',
  query: 'query',
  'http.request.uri.query': 'query',
  method: 'method',
  'http.request.method': 'method',
  upstream_hostport: 'upstreamHostport',
  'http.reverse_proxy.upstream.hostport': 'upstreamHostport',
};

/**
 * Replace Caddy-style {placeholders}. `values` is called only when the text has a '{', so plain
 * values cost nothing. Unknown placeholders are kept as written (`respond`, `redir`: Caddy's
 * ReplaceKnown) or become '' (header values: ReplaceAll), as `unknown` says.
 */
export function expandPlaceholders(template: string, values: () => PlaceholderValues, unknown: 'keep' | 'empty'): string {
  if (!template.includes('{')) return template;
  const v = values();
  // Names are case-sensitive, as Caddy's are: {HOST} is not {host}.
  return template.replace(/\{([a-z0-9_.]+)\}/g, (whole, name: string) => {
    const key = ALIASES[name];
    const value = key === undefined ? undefined : v[key];
    if (value !== undefined) return value;
    return unknown === 'keep' ? whole : '';
  });
}

import { hostToken, headerTokens, parseHostPort, portOption, serveGenerated } from './one-liner.ts';
import { parse, usageError } from './usage.ts';

const HELP = `Usage: my-server reverse-proxy --to UPSTREAM [--to UPSTREAM…] [--from ADDR]
         [--internal-certs] [--change-host-header] [--insecure] [--disable-redirects]
         [--header-up "Field: value"] [--header-down "Field: value"] [--access-log] [--debug]
         [--http-port PORT]

A reverse proxy without a Proxyfile, as \`caddy reverse-proxy\`: traffic to ADDR goes to the
UPSTREAMs (several: load-balanced, random). It writes the Proxyfile these flags mean, prints it,
and serves it as \`my-server run\` does (no admin API; SIGTERM stops it).

  -f, --from ADDR            [scheme://][host][:port] to serve (default localhost). Without a
                             scheme: HTTP when the port is 80 or there is no host, else HTTPS
                             (port 443 unless given), with a certificate for the host.
  -t, --to UPSTREAM          where to send requests: host:port, :port, http://… or https://…
                             (HTTP unless the scheme says https); repeat for several
  -i, --internal-certs       certificates from the local CA instead of a public ACME CA
  -c, --change-host-header   send the upstream's host:port as Host (default: the client's Host)
      --insecure             do not verify an https:// upstream's certificate (DANGEROUS)
  -r, --disable-redirects    no HTTP→HTTPS redirects
  -H, --header-up "F: v"     set a request header for the upstream (repeatable)
  -d, --header-down "F: v"   set a response header for the client (repeatable)
      --access-log           log each request
  -v, --debug                debug logging
      --http-port PORT       the HTTP port for redirects and HTTP-01 challenges (default 80;
                             my-server's addition: it listens there whenever it serves HTTPS)
`;

/** The Proxyfile `caddy reverse-proxy` builds from the same flags (Caddy's reverseproxy/command.go). */
export function reverseProxyConfig(values: Record<string, string | boolean | string[] | undefined>): string {
  const to = (values['to'] as string[] | undefined) ?? [];
  if (to.length === 0) throw usageError('reverse-proxy: --to is required');
  const from = parseHostPort('--from', typeof values['from'] === 'string' ? values['from'] : 'localhost');
  const scheme = from.scheme ?? (from.port === 80 || from.host === '' ? 'http' : 'https');
  const port = from.port ?? (scheme === 'http' ? 80 : 443);
  const upstreams = to.map((u) => {
    if (!/^(?:(?:https?|h2c):\/\/)?[^\s/`{}]+\/?$/.test(u)) throw usageError(`--to ${JSON.stringify(u)}: expected host:port, :port or scheme://host[:port]`);
    return u.replace(/\/$/, '');
  });
  const httpPort = portOption('--http-port', typeof values['http-port'] === 'string' ? values['http-port'] : undefined);

  const globals = ['admin off'];
  if (values['disable-redirects'] === true) globals.push('auto_https disable_redirects');
  if (httpPort !== undefined) globals.push(`http_port ${httpPort}`);
  if (values['debug'] === true) globals.push('debug');

  const proxy: string[] = [];
  // Caddy's shortcut for --header-up "Host: {http.reverse_proxy.upstream.hostport}".
  if (values['change-host-header'] === true) proxy.push('header_up Host {upstream_hostport}');
  for (const h of (values['header-up'] as string[] | undefined) ?? []) proxy.push(`header_up ${headerTokens('--header-up', h)}`);
  for (const h of (values['header-down'] as string[] | undefined) ?? []) proxy.push(`header_down ${headerTokens('--header-down', h)}`);
  // As Caddy: --insecure applies to TLS upstreams only; there is nothing to verify otherwise.
  if (values['insecure'] === true && upstreams.some((u) => u.startsWith('https://'))) proxy.push('transport http {\n\t\t\ttls_insecure_skip_verify\n\t\t}');

  const site: string[] = [];
  if (values['internal-certs'] === true && from.host !== '' && scheme === 'https') site.push('tls internal');
  if (values['access-log'] === true) site.push('log');
  site.push(`reverse_proxy ${upstreams.join(' ')}${proxy.length > 0 ? ` {\n${proxy.map((l) => `\t\t${l}\n`).join('')}\t}` : ''}`);

  return `{\n${globals.map((g) => `\t${g}\n`).join('')}}\n\n${scheme}://${hostToken(from.host)}:${port} {\n${site.map((l) => `\t${l}\n`).join('')}}\n`;
}

export async function reverseProxyCommand(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      from: { type: 'string', short: 'f' },
      to: { type: 'string', short: 't', multiple: true },
      'internal-certs': { type: 'boolean', short: 'i' },
      'change-host-header': { type: 'boolean', short: 'c' },
      insecure: { type: 'boolean' },
      'disable-redirects': { type: 'boolean', short: 'r' },
      'header-up': { type: 'string', short: 'H', multiple: true },
      'header-down': { type: 'string', short: 'd', multiple: true },
      'access-log': { type: 'boolean' },
      debug: { type: 'boolean', short: 'v' },
      'http-port': { type: 'string' },
    },
    false,
  );
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  return serveGenerated('reverse-proxy', reverseProxyConfig(values));
}

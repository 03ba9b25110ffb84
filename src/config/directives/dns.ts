/**
 * DNS-01 settings, in Caddy's spelling:
 *
 *     { acme_dns PROVIDER … }                       (global: every ACME site's provider)
 *     tls {
 *         dns PROVIDER …                            (this site's provider)
 *         propagation_delay D
 *         propagation_timeout D|-1                  (-1 skips the propagation check)
 *         resolvers IP[:PORT]...
 *         dns_ttl D
 *     }
 *
 * Providers (one grammar each, as the caddy-dns modules and lego spell them):
 *
 *     rfc2136 { key_name NAME; key_alg hmac-sha256|hmac-sha512; key SECRET; server HOST[:PORT] }
 *     exec PROGRAM [ARGS...]                        (lego's exec: PROGRAM ARGS... present|cleanup FQDN VALUE)
 *     acmedns { username U; password P; subdomain S; server_url URL }
 *     cloudflare TOKEN | cloudflare { api_token TOKEN; zone_token TOKEN }
 *
 * Secrets may be `{env.VAR}` (resolved when the provider is made) or `{$VAR}` (at load).
 * Also the wildcard rule validate.ts applies: a public wildcard served by ACME needs a provider.
 */
import { isIP } from 'node:net';
import { configError, posOf, type ConfigError } from '../errors.ts';
import type { GlobalsDraft, TlsDraft } from '../draft.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { DnsChallengeConfig, DnsProviderConfig, GlobalOptions, SiteAddress, SiteConfig } from '../types.ts';
import { durationArg, urlArg } from '../values.ts';
import { argsOf, noBlock, Once, oneArg } from './helpers.ts';

export const DNS_PROVIDERS = ['rfc2136', 'exec', 'acmedns', 'cloudflare'] as const;
/** The `tls` subdirectives parsed here. */
export const TLS_DNS_SUBDIRECTIVES: readonly string[] = ['dns', 'propagation_delay', 'propagation_timeout', 'resolvers', 'dns_ttl'];

/** Global `acme_dns PROVIDER …`. */
export function parseAcmeDns(node: Node, draft: GlobalsDraft): void {
  draft.acmeDns = parseProvider(node, 'acme_dns');
}

/** One of TLS_DNS_SUBDIRECTIVES inside `tls { }`. */
export function parseTlsDns(sub: Node, draft: TlsDraft): void {
  const dns: { -readonly [K in keyof DnsChallengeConfig]: DnsChallengeConfig[K] } = { ...draft.dns };
  switch (sub.name.text) {
    case 'dns':
      dns.provider = parseProvider(sub, 'tls dns');
      break;
    case 'propagation_delay':
      noBlock(sub);
      dns.propagationDelayMs = durationArg(oneArg(sub, 'propagation_delay D'), { allowZero: true });
      break;
    case 'propagation_timeout': {
      noBlock(sub);
      const tok = oneArg(sub, 'propagation_timeout D|-1');
      dns.propagationTimeoutMs = tok.text === '-1' ? -1 : durationArg(tok, { allowZero: true });
      break;
    }
    case 'resolvers':
      noBlock(sub);
      dns.resolvers = argsOf(sub, 1, Infinity, 'resolvers IP[:PORT]...').map(resolverArg);
      break;
    case 'dns_ttl':
      noBlock(sub);
      dns.ttlSeconds = Math.max(1, Math.round(durationArg(oneArg(sub, 'dns_ttl D')) / 1000));
      break;
    default:
      throw configError(sub.name, `unknown subdirective "${sub.name.text}" in tls`);
  }
  draft.dns = dns;
}

function resolverArg(tok: Token): string {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(tok.text);
  const host = m?.[1] ?? m?.[2];
  const port = m?.[3] === undefined ? 53 : Number(m[3]);
  if (host === undefined || isIP(host) === 0 || !(port >= 1 && port <= 65535)) {
    throw configError(tok, `resolvers: "${tok.text}" is not an IP address with an optional port (1.1.1.1, 127.0.0.1:5353, [::1]:53)`);
  }
  return tok.text;
}

function parseProvider(node: Node, what: string): DnsProviderConfig {
  const [nameTok, ...args] = argsOf(node, 1, Infinity, `${what} PROVIDER …`) as [Token, ...Token[]];
  const pos = posOf(nameTok);
  const block = node.block ?? [];
  switch (nameTok.text) {
    case 'rfc2136': {
      if (args[0] !== undefined) throw configError(args[0], `${what} rfc2136: options go in a block: rfc2136 { key_name …; key_alg …; key …; server … }`);
      const v = blockValues(block, `${what} rfc2136`, ['key_name', 'key_alg', 'key', 'server']);
      const server = need(v, 'server', node, `${what} rfc2136`);
      if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(server.text)) {
        throw configError(server, `${what} rfc2136: server "${server.text}" is not HOST or HOST:PORT`);
      }
      const alg = v.get('key_alg');
      const keyAlg = alg === undefined ? 'hmac-sha256' : alg.text.toLowerCase().replace(/\.$/, '');
      if (keyAlg !== 'hmac-sha256' && keyAlg !== 'hmac-sha512') {
        throw configError(alg as Token, `${what} rfc2136: unsupported key_alg "${(alg as Token).text}" (use hmac-sha256 or hmac-sha512)`);
      }
      const key = need(v, 'key', node, `${what} rfc2136`);
      if (!isPlaceholder(key.text) && !/^[A-Za-z0-9+/]+={0,2}$/.test(key.text)) {
        throw configError(key, `${what} rfc2136: key is not base64 (the secret of BIND's key clause)`);
      }
      return { provider: 'rfc2136', server: server.text, keyName: need(v, 'key_name', node, `${what} rfc2136`).text, keyAlg, key: key.text, pos };
    }
    case 'exec': {
      if (node.block !== undefined) throw configError(node.name, `${what} exec takes no block: exec PROGRAM [ARGS...]`);
      const [program, ...rest] = args;
      if (program === undefined) throw configError(nameTok, `${what} exec: missing PROGRAM (usage: exec PROGRAM [ARGS...])`);
      return { provider: 'exec', program: program.text, args: rest.map((t) => t.text), pos };
    }
    case 'acmedns': {
      if (args[0] !== undefined) throw configError(args[0], `${what} acmedns: options go in a block: acmedns { username …; password …; subdomain …; server_url … }`);
      const v = blockValues(block, `${what} acmedns`, ['username', 'password', 'subdomain', 'server_url']);
      const label = `${what} acmedns`;
      return {
        provider: 'acmedns',
        serverUrl: urlArg(need(v, 'server_url', node, label), 'acme-dns server URL'),
        username: need(v, 'username', node, label).text,
        password: need(v, 'password', node, label).text,
        subdomain: need(v, 'subdomain', node, label).text,
        pos,
      };
    }
    case 'cloudflare': {
      const v = blockValues(block, `${what} cloudflare`, ['api_token', 'zone_token']);
      if (args.length > 1) throw configError(args[1] as Token, `${what} cloudflare: one argument at most (the API token)`);
      if (args[0] !== undefined && v.has('api_token')) throw configError(v.get('api_token') as Token, `${what} cloudflare: the API token is already given as an argument`);
      const token = args[0] ?? v.get('api_token');
      if (token === undefined) throw configError(nameTok, `${what} cloudflare: missing the API token (cloudflare TOKEN or cloudflare { api_token TOKEN })`);
      const zone = v.get('zone_token');
      return { provider: 'cloudflare', apiToken: token.text, ...(zone !== undefined ? { zoneToken: zone.text } : {}), pos };
    }
    default:
      throw configError(nameTok, `${what}: unsupported DNS provider "${nameTok.text}" (use ${DNS_PROVIDERS.join(', ')}; see docs/dns-01.md)`);
  }
}

function blockValues(block: readonly Node[], what: string, allowed: readonly string[]): Map<string, Token> {
  const once = new Once();
  const values = new Map<string, Token>();
  for (const sub of block) {
    if (!allowed.includes(sub.name.text)) throw configError(sub.name, `unknown subdirective "${sub.name.text}" in ${what} (use ${allowed.join(', ')})`);
    once.check(sub);
    noBlock(sub);
    values.set(sub.name.text, oneArg(sub, `${sub.name.text} VALUE`));
  }
  return values;
}

function need(values: ReadonlyMap<string, Token>, key: string, node: Node, what: string): Token {
  const tok = values.get(key);
  if (tok === undefined) throw configError(node.name, `${what}: missing ${key}`);
  return tok;
}

const isPlaceholder = (text: string): boolean => /^\{env\.[^}]+\}$/.test(text);

/**
 * A site's DNS-01 settings with the provider it uses (its own, else `acme_dns`); undefined when it
 * has no provider, so DNS-01 is not used.
 */
export function dnsChallengeFor(site: SiteConfig | undefined, globals: GlobalOptions): DnsChallengeConfig | undefined {
  const provider = site?.tls.dns?.provider ?? globals.acmeDns;
  if (provider === undefined) return undefined;
  return { ...site?.tls.dns, provider };
}

/**
 * A public wildcard that ACME would serve but no DNS provider can prove: stricter than Caddy, which
 * accepts it and fails at issuance for ever. `acme` is whether the issuer policy picks ACME for it.
 */
export function wildcardWithoutProvider(site: SiteConfig, address: SiteAddress, globals: GlobalOptions, acme: boolean): ConfigError | undefined {
  if (!address.wildcard || address.protocol !== 'https' || globals.autoHttps === 'off') return undefined;
  if (!acme || site.tls.onDemand || dnsChallengeFor(site, globals) !== undefined) return undefined;
  return configError(
    address.pos,
    `${address.original} needs a DNS provider (tls { dns PROVIDER … } or the global acme_dns): a CA proves a wildcard only through DNS-01; or use tls internal`,
  );
}

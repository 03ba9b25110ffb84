/**
 * The `servers` global option, Caddy's server options for the listeners it names:
 *
 *     servers [ADDR] {
 *         trusted_proxies static CIDR...|private_ranges ...
 *         trusted_proxies_strict
 *         client_ip_headers NAME...
 *         protocols h1|h2|h2c|h3...
 *         timeouts { read_body D; read_header D; write D; idle D }
 *         keepalive_interval D
 *         max_header_size SIZE
 *         strict_sni_host [on|insecure_off]
 *         log_credentials
 *         enable_full_duplex
 *         metrics [{ per_host }]
 *     }
 *
 * ADDR is `:PORT` or `HOST:PORT`; no ADDR: every listener without a block of its own. Several
 * blocks may appear, one per ADDR. Each subdirective may appear once per block.
 */
import { configError, posOf } from '../errors.ts';
import { SERVER_DEFAULTS } from '../defaults.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { ServerOptions, ServerProtocol } from '../types.ts';
import { durationArg, headerNameArg, portArg } from '../values.ts';
import { parseCidr, PRIVATE_RANGES } from '../cidr.ts';
import { argsOf, needBlock, noBlock, Once, oneArg } from './helpers.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type TimeoutKey = keyof ServerOptions['timeouts'];

const PROTOCOLS: readonly ServerProtocol[] = ['h1', 'h2', 'h2c', 'h3'];
const TIMEOUTS: Readonly<Record<string, TimeoutKey>> = {
  read_body: 'readBodyMs',
  read_header: 'readHeaderMs',
  write: 'writeMs',
  idle: 'idleMs',
};
/** Size units as Caddy's max_header_size takes them (go-humanize ParseBytes: SI and IEC). */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, kib: 1024,
  m: 1e6, mb: 1e6, mib: 1024 ** 2,
  g: 1e9, gb: 1e9, gib: 1024 ** 3,
};

/**
 * Parses one `servers` node, refusing a second block for the same port (or a second one without
 * ADDR): a listener takes its block by port (http/client-ip.ts), so a second block for the port
 * would be silently ignored, its trusted_proxies included.
 */
export function parseServers(node: Node, previous: readonly ServerOptions[]): ServerOptions {
  const [addrTok] = argsOf(node, 0, 1, 'servers [ADDR] { … }');
  const where: { address?: string; port?: number } = addrTok === undefined ? {} : listenerAddress(addrTok);
  const dup = previous.find((p) => p.port === where.port);
  if (dup !== undefined) {
    const what = where.address === undefined ? 'servers without an address' : `servers ${where.address}`;
    throw configError(addrTok ?? node.name, `${what} is already set at ${dup.pos.file}:${dup.pos.line}:${dup.pos.col}`);
  }
  const s: Mutable<ServerOptions> = {
    ...where,
    trustedProxies: [],
    trustedProxiesStrict: SERVER_DEFAULTS.trustedProxiesStrict,
    clientIpHeaders: [...SERVER_DEFAULTS.clientIpHeaders],
    protocols: [...SERVER_DEFAULTS.protocols],
    timeouts: {},
    logCredentials: SERVER_DEFAULTS.logCredentials,
    enableFullDuplex: SERVER_DEFAULTS.enableFullDuplex,
    pos: posOf(node.name),
  };
  const once = new Once();
  for (const sub of needBlock(node, 'servers [ADDR] { trusted_proxies …; client_ip_headers …; … }')) {
    once.check(sub);
    const name = sub.name.text;
    if (name !== 'timeouts' && name !== 'metrics') noBlock(sub);
    switch (name) {
      case 'trusted_proxies':
        s.trustedProxies = trustedProxies(sub);
        break;
      case 'trusted_proxies_strict':
        argsOf(sub, 0, 0, 'trusted_proxies_strict');
        s.trustedProxiesStrict = true;
        break;
      case 'client_ip_headers':
        s.clientIpHeaders = argsOf(sub, 1, Infinity, 'client_ip_headers NAME...').map((t) => headerNameArg(t, t.text));
        break;
      case 'protocols': {
        const toks = argsOf(sub, 1, 4, 'protocols h1|h2|h2c|h3...');
        s.protocols = toks.map(protocolArg);
        const h3 = toks.find((t) => t.text === 'h3');
        if (h3 !== undefined) s.h3Pos = posOf(h3);
        break;
      }
      case 'timeouts':
        s.timeouts = timeouts(sub);
        break;
      case 'keepalive_interval':
        s.keepaliveIntervalMs = durationArg(oneArg(sub, 'keepalive_interval D'), { allowZero: true });
        break;
      case 'max_header_size':
        s.maxHeaderSize = sizeArg(oneArg(sub, 'max_header_size SIZE'));
        break;
      case 'strict_sni_host': {
        const [mode] = argsOf(sub, 0, 1, 'strict_sni_host [on|insecure_off]');
        if (mode !== undefined && mode.text !== 'on' && mode.text !== 'insecure_off') {
          throw configError(mode, `strict_sni_host: unsupported value "${mode.text}" (use on or insecure_off)`);
        }
        s.strictSniHost = mode?.text === 'insecure_off' ? 'insecure_off' : 'on';
        break;
      }
      case 'log_credentials':
        argsOf(sub, 0, 0, 'log_credentials');
        s.logCredentials = true;
        break;
      case 'enable_full_duplex':
        argsOf(sub, 0, 0, 'enable_full_duplex');
        s.enableFullDuplex = true;
        break;
      case 'metrics':
        s.metrics = metrics(sub);
        break;
      default:
        throw configError(sub.name, `unknown subdirective "${name}" in servers`);
    }
  }
  return s;
}

function listenerAddress(tok: Token): { address: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:[\]]*):(\d+)$/.exec(tok.text);
  if (m === null) throw configError(tok, `servers: invalid listener address "${tok.text}" (use :PORT or HOST:PORT)`);
  return { address: tok.text, port: portArg({ ...tok, text: m[2] as string }) };
}

/** `trusted_proxies static CIDR...` or `trusted_proxies private_ranges` (Caddy's shorthand for static). */
function trustedProxies(sub: Node): string[] {
  const usage = 'trusted_proxies static CIDR...|private_ranges';
  const [source, ...ranges] = argsOf(sub, 1, Infinity, usage) as [Token, ...Token[]];
  if (source.text === 'private_ranges') {
    argsOf(sub, 1, 1, usage);
    return [...PRIVATE_RANGES];
  }
  if (source.text !== 'static') {
    throw configError(source, `trusted_proxies: unsupported source "${source.text}" (use static or private_ranges)`);
  }
  if (ranges.length === 0) throw configError(source, `trusted_proxies static: missing CIDR (usage: ${usage})`);
  return ranges.flatMap((tok) => {
    if (tok.text === 'private_ranges') return [...PRIVATE_RANGES];
    const c = parseCidr(tok.text);
    if (typeof c === 'string') throw configError(tok, `trusted_proxies: invalid range "${tok.text}": ${c}`);
    return [tok.text];
  });
}

function protocolArg(tok: Token): ServerProtocol {
  if (!(PROTOCOLS as readonly string[]).includes(tok.text)) {
    throw configError(tok, `protocols: unsupported protocol "${tok.text}" (use ${PROTOCOLS.join(', ')})`);
  }
  return tok.text as ServerProtocol;
}

function timeouts(node: Node): ServerOptions['timeouts'] {
  argsOf(node, 0, 0, 'timeouts { read_body D; read_header D; write D; idle D }');
  const out: Partial<Record<TimeoutKey, number>> = {};
  const once = new Once();
  for (const sub of needBlock(node, 'timeouts { read_body D; read_header D; write D; idle D }')) {
    once.check(sub);
    noBlock(sub);
    const key = Object.hasOwn(TIMEOUTS, sub.name.text) ? TIMEOUTS[sub.name.text] : undefined;
    if (key === undefined) throw configError(sub.name, `unknown subdirective "${sub.name.text}" in timeouts`);
    out[key] = durationArg(oneArg(sub, `${sub.name.text} D`), { allowZero: true });
  }
  return out;
}

function metrics(node: Node): { perHost: boolean } {
  argsOf(node, 0, 0, 'metrics [{ per_host }]');
  let perHost = false;
  for (const sub of node.block ?? []) {
    if (sub.name.text !== 'per_host') throw configError(sub.name, `unknown subdirective "${sub.name.text}" in metrics`);
    noBlock(sub);
    argsOf(sub, 0, 0, 'per_host');
    perHost = true;
  }
  return { perHost };
}

/** `16384`, `16KB`, `1MiB`, `1.5mb`: bytes, a whole number greater than zero. */
function sizeArg(tok: Token): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(tok.text);
  const unit = m === null ? undefined : SIZE_UNITS[(m[2] as string).toLowerCase()];
  if (m === null || unit === undefined) {
    throw configError(tok, `max_header_size: invalid size "${tok.text}" (use bytes, or a unit as in 16KB or 1MiB)`);
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1) throw configError(tok, `max_header_size: invalid size "${tok.text}": must be greater than zero`);
  if (!Number.isSafeInteger(bytes)) throw configError(tok, `max_header_size: invalid size "${tok.text}": too large`);
  return bytes;
}


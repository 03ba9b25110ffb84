/**
 * The global options block, the first block of a Proxyfile when it has no address:
 *
 *     {
 *         email ADDR
 *         acme_ca URL
 *         acme_ca_root FILE
 *         acme_eab KEY_ID HMAC          | acme_eab { key_id ID; mac_key HMAC }
 *         local_certs
 *         storage file PATH             | storage file_system PATH | storage file_system { root PATH }
 *         storage redis URL [{ prefix P }]
 *         http_port N
 *         https_port N
 *         default_bind ADDR...
 *         auto_https off|disable_redirects
 *         admin ADDR|off
 *         on_demand_tls { ask URL; interval D; burst N }
 *         acme_dns PROVIDER …          (see dns.ts)
 *         key_type p256|p384|rsa2048|rsa4096
 *         cert_lifetime D
 *         acme_profile NAME
 *         grace_period D
 *         log [default] { output stdout|stderr|file PATH; format json|console; level LEVEL }
 *         servers [ADDR] { … }          (see servers.ts)
 *     }
 *
 * Each option may appear once, except `servers` (once per ADDR).
 */
import { isIP } from 'node:net';
import { configError, posOf, type ConfigError, type IssueCollector } from '../errors.ts';
import { GLOBAL_DEFAULTS } from '../defaults.ts';
import type { Token } from '../lexer.ts';
import type { GlobalsDraft } from '../draft.ts';
import type { Node } from '../parser.ts';
import type { GlobalOptionName, KeyType, StorageConfig } from '../types.ts';
import { durationArg, emailArg, intArg, portArg, urlArg } from '../values.ts';
import { argsOf, needBlock, noBlock, Once, oneArg } from './helpers.ts';
import { parseServers } from './servers.ts';
import { parseLogSettings } from './log.ts';
import { parseAcmeDns } from './dns.ts';

type OptionParser = (node: Node, draft: GlobalsDraft) => void;

const KEY_TYPES: readonly KeyType[] = ['p256', 'p384', 'rsa2048', 'rsa4096'];

const OPTIONS: Readonly<Record<GlobalOptionName, OptionParser>> = {
  email(node, draft) {
    noBlock(node);
    draft.email = emailArg(oneArg(node, 'email ADDR'));
  },
  acme_ca(node, draft) {
    noBlock(node);
    draft.acmeCa = urlArg(oneArg(node, 'acme_ca URL'), 'ACME directory URL');
  },
  acme_ca_root(node, draft) {
    noBlock(node);
    draft.acmeCaRoot = oneArg(node, 'acme_ca_root FILE').text;
  },
  acme_eab(node, draft) {
    const usage = 'acme_eab KEY_ID HMAC';
    if (node.block === undefined) {
      const [keyId, macKey] = argsOf(node, 2, 2, usage) as [Token, Token];
      draft.acmeEab = { keyId: keyId.text, macKey: macKey.text };
      return;
    }
    argsOf(node, 0, 0, usage);
    const values: Record<string, string> = {};
    const once = new Once();
    for (const sub of node.block) {
      if (sub.name.text !== 'key_id' && sub.name.text !== 'mac_key') throw unknownSub(sub, 'acme_eab');
      once.check(sub);
      noBlock(sub);
      values[sub.name.text] = oneArg(sub, `${sub.name.text} VALUE`).text;
    }
    const keyId = values['key_id'];
    const macKey = values['mac_key'];
    if (keyId === undefined || macKey === undefined) throw configError(node.name, 'acme_eab needs both key_id and mac_key');
    draft.acmeEab = { keyId, macKey };
  },
  local_certs(node, draft) {
    noBlock(node);
    argsOf(node, 0, 0, 'local_certs');
    draft.localCerts = true;
  },
  storage(node, draft) {
    draft.storage = parseStorage(node);
  },
  http_port(node, draft) {
    noBlock(node);
    draft.httpPort = portArg(oneArg(node, 'http_port N'));
  },
  https_port(node, draft) {
    noBlock(node);
    draft.httpsPort = portArg(oneArg(node, 'https_port N'));
  },
  default_bind(node, draft) {
    noBlock(node);
    draft.defaultBind = argsOf(node, 1, Infinity, 'default_bind ADDR...').map(bindAddress);
  },
  auto_https(node, draft) {
    noBlock(node);
    const mode = oneArg(node, 'auto_https off|disable_redirects');
    if (mode.text !== 'off' && mode.text !== 'disable_redirects') {
      throw configError(mode, `auto_https: unsupported value "${mode.text}" (use off or disable_redirects)`);
    }
    draft.autoHttps = mode.text;
  },
  admin(node, draft) {
    noBlock(node);
    const addr = oneArg(node, 'admin ADDR|off');
    draft.admin = addr.text === 'off' ? false : { address: adminAddress(addr) };
  },
  on_demand_tls(node, draft) {
    argsOf(node, 0, 0, 'on_demand_tls { ask URL; interval D; burst N }');
    const once = new Once();
    const policy: { ask?: string; intervalMs?: number; burst?: number } = {};
    for (const sub of needBlock(node, 'on_demand_tls { ask URL }')) {
      once.check(sub);
      noBlock(sub);
      if (sub.name.text === 'ask') policy.ask = urlArg(oneArg(sub, 'ask URL'), 'ask URL');
      else if (sub.name.text === 'interval') policy.intervalMs = durationArg(oneArg(sub, 'interval D'));
      else if (sub.name.text === 'burst') policy.burst = intArg(oneArg(sub, 'burst N'), 1, 1_000_000, 'burst');
      else throw unknownSub(sub, 'on_demand_tls');
    }
    if ((policy.intervalMs === undefined) !== (policy.burst === undefined)) {
      throw configError(node.name, 'on_demand_tls: interval and burst must be set together');
    }
    draft.onDemandTls = policy;
  },
  acme_dns: parseAcmeDns,
  key_type(node, draft) {
    noBlock(node);
    draft.keyType = keyTypeArg(oneArg(node, 'key_type p256|p384|rsa2048|rsa4096'));
  },
  cert_lifetime(node, draft) {
    noBlock(node);
    draft.certLifetimeMs = durationArg(oneArg(node, 'cert_lifetime D'));
  },
  acme_profile(node, draft) {
    noBlock(node);
    draft.acmeProfile = oneArg(node, 'acme_profile NAME').text;
  },
  grace_period(node, draft) {
    noBlock(node);
    draft.gracePeriodMs = durationArg(oneArg(node, 'grace_period D'), { allowZero: true });
  },
  log(node, draft) {
    const [name] = argsOf(node, 0, 1, 'log [default] { output …; format …; level … }');
    if (name !== undefined && name.text !== 'default') {
      throw configError(name, `log: named loggers are not supported (only "default")`);
    }
    draft.log = parseLogSettings(needBlock(node, 'log { output …; format …; level … }'), 'log');
  },
  servers(node, draft) {
    draft.servers = [...(draft.servers ?? []), parseServers(node, draft.servers ?? [])];
  },
};

export function parseGlobalOptions(body: readonly Node[], issues: IssueCollector): GlobalsDraft {
  const draft: GlobalsDraft = { sources: {} };
  const once = new Once();
  for (const node of body) {
    issues.attempt(() => {
      const name = node.name.text;
      if (!Object.hasOwn(OPTIONS, name)) throw configError(node.name, `unknown global option "${name}"`);
      // Several servers blocks may appear, one per listener address (parseServers checks that).
      if (name !== 'servers') once.check(node);
      OPTIONS[name as GlobalOptionName](node, draft);
      draft.sources[name as GlobalOptionName] ??= posOf(node.name);
    });
  }
  return draft;
}

export function keyTypeArg(tok: Token): KeyType {
  if (!(KEY_TYPES as readonly string[]).includes(tok.text)) {
    throw configError(tok, `unsupported key type "${tok.text}" (use ${KEY_TYPES.join(', ')})`);
  }
  return tok.text as KeyType;
}

export function unknownSub(sub: Node, parent: string): ConfigError {
  return configError(sub.name, `unknown subdirective "${sub.name.text}" in ${parent}`);
}

function parseStorage(node: Node): StorageConfig {
  const usage = 'storage file PATH | storage redis URL [{ prefix P }]';
  const [kind, ...rest] = argsOf(node, 1, 2, usage) as [Token, ...Token[]];
  if (kind.text === 'file' || kind.text === 'file_system') {
    let root = rest[0]?.text;
    for (const sub of node.block ?? []) {
      if (sub.name.text !== 'root') throw unknownSub(sub, `storage ${kind.text}`);
      noBlock(sub);
      if (root !== undefined) throw configError(sub.name, 'storage: the path is already set');
      root = oneArg(sub, 'root PATH').text;
    }
    if (root === '') throw configError(kind, 'storage file: empty path');
    return root === undefined ? { kind: 'file' } : { kind: 'file', path: root };
  }
  if (kind.text === 'redis') {
    const urlTok = rest[0];
    if (urlTok === undefined) throw configError(kind, `storage redis: missing URL (usage: ${usage})`);
    let url: URL | undefined;
    try {
      url = new URL(urlTok.text);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
      throw configError(urlTok, `storage redis: invalid URL "${urlTok.text}" (use redis://HOST:PORT or rediss://…)`);
    }
    let prefix: string | undefined;
    for (const sub of node.block ?? []) {
      if (sub.name.text !== 'prefix') throw unknownSub(sub, 'storage redis');
      noBlock(sub);
      if (prefix !== undefined) throw configError(sub.name, 'prefix is already set');
      prefix = oneArg(sub, 'prefix P').text;
    }
    return { kind: 'redis', url: urlTok.text, prefix: prefix ?? GLOBAL_DEFAULTS.redisPrefix };
  }
  throw configError(kind, `storage: unsupported kind "${kind.text}" (use file or redis)`);
}

/** `host:port`, `[ipv6]:port`, `:port` or `unix//path`. */
function adminAddress(tok: Token): string {
  const text = tok.text;
  if (text.startsWith('unix/')) {
    if (text.length <= 'unix/'.length) throw configError(tok, 'admin: missing socket path after unix/');
    return text;
  }
  const m = /^(\[[^\]]+\]|[^:[\]]*):(\d+)$/.exec(text);
  if (m === null) throw configError(tok, `admin: invalid address "${text}" (use HOST:PORT, :PORT, unix//PATH or off)`);
  intArg({ ...tok, text: m[2] as string }, 1, 65535, 'admin port');
  return text;
}

/** A host name or IP address to bind to, IPv6 with or without brackets. */
function bindAddress(tok: Token): string {
  const text = tok.text;
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIP(bare) !== 0 || /^[A-Za-z0-9._-]+$/.test(bare)) return bare;
  throw configError(tok, `default_bind: invalid address "${text}"`);
}

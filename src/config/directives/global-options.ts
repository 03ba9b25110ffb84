/**
 * The global options block, the first block of a Proxyfile when it has no address. Caddy's
 * spellings first; ours stay as aliases:
 *
 *     {
 *         debug                         (= log { level debug }, whatever log says)
 *         email ADDR
 *         acme_ca URL
 *         acme_ca_root FILE
 *         acme_eab { key_id ID; mac_key HMAC }   | acme_eab KEY_ID HMAC
 *         cert_issuer acme [URL] { … } | cert_issuer internal { … }   (see issuer.ts; once)
 *         local_certs
 *         storage file_system PATH | storage file_system { root PATH }   | storage file PATH
 *         storage redis URL [{ prefix P }]
 *         http_port N
 *         https_port N
 *         default_bind ADDR...
 *         auto_https off|disable_redirects|disable_certs|ignore_loaded_certs|prefer_wildcard ...
 *         admin [ADDR|off] [{ origins ORIGIN...; enforce_origin }]
 *         on_demand_tls { ask URL | permission http URL; interval D; burst N }
 *         acme_dns PROVIDER …          (see dns.ts)
 *         key_type p256|p384|rsa2048|rsa4096
 *         cert_lifetime D
 *         acme_profile NAME
 *         preferred_chains [smallest] { root_common_name CN... | any_common_name CN... }
 *         default_sni NAME
 *         fallback_sni NAME
 *         grace_period D
 *         shutdown_delay D
 *         metrics { per_certificate_limit N }   (per-certificate series of /metrics; Caddy's per_host is not)
 *         workers N|auto                (N ≥ 1, at most 256; auto: os.availableParallelism())
 *         log [NAME] { output …; format …; level LEVEL; include|exclude LOGGER… } (directives/log.ts)
 *         servers [ADDR] { … }          (see servers.ts)
 *         persist_config off            accepted: the config is never persisted
 *         ocsp_stapling off             accepted: nothing is stapled
 *         ocsp_interval D               accepted: nothing is stapled
 *         renew_interval D              accepted: each certificate has its own renewal timer
 *         storage_clean_interval D      accepted: storage is not swept
 *         skip_install_trust            accepted: trust is installed only by `my-server trust`
 *     }
 *
 * Each option may appear once, except `servers` (once per ADDR). Where `cert_issuer acme` and the
 * single options (`acme_ca`, `email`, `acme_eab`, `acme_profile`, `preferred_chains`) both set a
 * value, the issuer's wins, as in Caddy, whatever their order.
 */
import { isIP } from 'node:net';
import { configError, posOf, type ConfigError, type IssueCollector } from '../errors.ts';
import { GLOBAL_DEFAULTS } from '../defaults.ts';
import type { Token } from '../lexer.ts';
import type { GlobalsDraft } from '../draft.ts';
import type { Node } from '../parser.ts';
import type { GlobalOptionName, KeyType, StorageConfig } from '../types.ts';
import { durationArg, intArg, portArg, urlArg } from '../values.ts';
import { argsOf, needBlock, noBlock, Once, oneArg } from './helpers.ts';
import { parseServers } from './servers.ts';
import { parseGlobalLog } from './log.ts';
import { parseOrder } from './order.ts';
import { parseIssuer, parsePreferredChains, type IssuerDraft } from './issuer.ts';
import { parseSiteAddress } from '../address.ts';
import { parseAcmeDns } from './dns.ts';

/** More processes than that is a typo, not a host: each worker is a whole runtime (~100 MB). */
const MAX_WORKERS = 256;

type OptionParser = (node: Node, draft: GlobalsDraft) => void;

const KEY_TYPES: readonly KeyType[] = ['p256', 'p384', 'rsa2048', 'rsa4096'];

type AutoHttpsValue = 'off' | 'disable_redirects' | 'disable_certs' | 'ignore_loaded_certs' | 'prefer_wildcard';
const AUTO_HTTPS: readonly AutoHttpsValue[] = ['off', 'disable_redirects', 'disable_certs', 'ignore_loaded_certs', 'prefer_wildcard'];

/** cert_issuer is merged after every other option (see the grammar above), so it has no parser here. */
const OPTIONS: Readonly<Record<Exclude<GlobalOptionName, 'cert_issuer'>, OptionParser>> = {
  email(node, draft) {
    noBlock(node);
    // Caddy takes any value here (corpus case 40 ships `email VAN_BLOG_EMAIL`, a template slot);
    // a CA refuses a malformed contact when the account is created, and that problem is logged.
    draft.email = oneArg(node, 'email ADDR').text;
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
    // Caddy takes several values at once (`auto_https disable_redirects disable_certs`).
    const values = new Set<AutoHttpsValue>();
    for (const tok of argsOf(node, 1, Infinity, `auto_https ${AUTO_HTTPS.join('|')}...`)) {
      if (!(AUTO_HTTPS as readonly string[]).includes(tok.text)) {
        throw configError(tok, `auto_https: unsupported value "${tok.text}" (use ${AUTO_HTTPS.join(', ')})`);
      }
      values.add(tok.text as AutoHttpsValue);
    }
    const noCerts = values.has('disable_certs');
    const noRedirects = values.has('disable_redirects');
    draft.autoHttps = values.has('off') || (noCerts && noRedirects) ? 'off' : noRedirects ? 'disable_redirects' : 'on';
    if (noCerts && draft.autoHttps !== 'off') draft.disableCerts = true;
  },
  admin(node, draft) {
    // Caddy's address is optional when a block follows (`admin { origins … }` keeps the default).
    const [addr] = argsOf(node, node.block === undefined ? 1 : 0, 1, 'admin ADDR|off [{ origins ORIGIN...; enforce_origin }]');
    if (addr?.text === 'off') {
      noBlock(node);
      draft.admin = false;
      return;
    }
    // Accepted, not applied: the admin API already refuses every cross-origin request (admin/request-policy.ts).
    const once = new Once();
    for (const sub of node.block ?? []) {
      once.check(sub);
      noBlock(sub);
      if (sub.name.text === 'origins') argsOf(sub, 1, Infinity, 'origins ORIGIN...');
      else if (sub.name.text === 'enforce_origin') argsOf(sub, 0, 0, 'enforce_origin');
      else throw unknownSub(sub, 'admin');
    }
    if (addr !== undefined) draft.admin = { address: adminAddress(addr) };
  },
  on_demand_tls(node, draft) {
    argsOf(node, 0, 0, 'on_demand_tls { ask URL; interval D; burst N }');
    const once = new Once();
    const policy: { ask?: string; intervalMs?: number; burst?: number } = {};
    for (const sub of needBlock(node, 'on_demand_tls { ask URL }')) {
      once.check(sub);
      noBlock(sub);
      if (sub.name.text === 'ask' || sub.name.text === 'permission') {
        if (policy.ask !== undefined) throw configError(sub.name, 'on_demand_tls: ask and permission cannot both be set');
        policy.ask = sub.name.text === 'ask' ? urlArg(oneArg(sub, 'ask URL'), 'ask URL') : permissionHttp(sub);
      }
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
  metrics(node, draft) {
    argsOf(node, 0, 0, 'metrics { per_certificate_limit N }');
    const once = new Once();
    const metrics: { perCertificateLimit?: number } = {};
    for (const sub of node.block ?? []) {
      once.check(sub);
      noBlock(sub);
      if (sub.name.text === 'per_certificate_limit') metrics.perCertificateLimit = intArg(oneArg(sub, 'per_certificate_limit N'), 0, 1_000_000, 'per_certificate_limit');
      else if (sub.name.text === 'per_host') throw configError(sub.name, 'metrics: per_host is a Caddy option my-server does not support: requests are counted per configured site (see docs/caddy-migration.md)');
      else throw unknownSub(sub, 'metrics');
    }
    draft.metrics = metrics;
  },
  shutdown_delay(node, draft) {
    noBlock(node);
    draft.shutdownDelayMs = durationArg(oneArg(node, 'shutdown_delay D'), { allowZero: true });
  },
  workers(node, draft) {
    noBlock(node);
    const tok = oneArg(node, 'workers N|auto');
    draft.workers = tok.text === 'auto' ? 'auto' : intArg(tok, 1, MAX_WORKERS, 'workers (a count or auto)');
  },
  debug(node) {
    noBlock(node);
    argsOf(node, 0, 0, 'debug');
    // Applied in parseGlobalOptions, after `log`, which it overrides.
  },
  default_sni(node, draft) {
    noBlock(node);
    draft.defaultSni = sniNameArg(oneArg(node, 'default_sni NAME'), 'default_sni');
  },
  fallback_sni(node, draft) {
    noBlock(node);
    draft.fallbackSni = sniNameArg(oneArg(node, 'fallback_sni NAME'), 'fallback_sni');
  },
  preferred_chains(node, draft) {
    draft.preferredChains = parsePreferredChains(node);
  },
  persist_config(node) {
    noBlock(node);
    const v = oneArg(node, 'persist_config off');
    if (v.text !== 'off') throw configError(v, `persist_config: unsupported value "${v.text}" (only off: my-server never persists its config)`);
  },
  ocsp_stapling(node) {
    noBlock(node);
    const v = oneArg(node, 'ocsp_stapling off');
    if (v.text !== 'off') throw configError(v, `ocsp_stapling: unsupported value "${v.text}" (only off: my-server does not staple OCSP responses)`);
  },
  ocsp_interval(node) {
    noBlock(node);
    durationArg(oneArg(node, 'ocsp_interval D'));
  },
  renew_interval(node) {
    noBlock(node);
    durationArg(oneArg(node, 'renew_interval D'));
  },
  storage_clean_interval(node) {
    noBlock(node);
    durationArg(oneArg(node, 'storage_clean_interval D'));
  },
  skip_install_trust(node) {
    noBlock(node);
    argsOf(node, 0, 0, 'skip_install_trust');
  },
  log(node, draft) {
    parseGlobalLog(node, draft);
  },
  servers(node, draft) {
    draft.servers = [...(draft.servers ?? []), parseServers(node, draft.servers ?? [])];
  },
  order(node, draft) {
    draft.order = [...(draft.order ?? []), parseOrder(node)];
  },
};

/**
 * Caddy global options my-server does not have, with why, so that a Caddyfile using one fails with
 * a pointer to docs/caddy-migration.md rather than "unknown global option". An option that gets
 * implemented moves to OPTIONS, which is looked up first.
 */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  tls_resolvers: 'give resolvers per site (tls { resolvers … }) or in acme_dns',
  ech: "Encrypted ClientHello is not offered by Node.js's TLS server",
  tls_automate_names: 'certificates are automated from site addresses only',
  renewal_window_ratio: 'renewal follows ARI, else one third of the lifetime left',
  filesystem: 'virtual file systems are Go modules',
  pki: 'there is one built-in local CA (my-server certs root prints its root)',
  events: 'event handlers are plugins',
};

export function parseGlobalOptions(body: readonly Node[], issues: IssueCollector): GlobalsDraft {
  const draft: GlobalsDraft = { sources: {} };
  const once = new Once();
  let issuer: IssuerDraft | undefined;
  for (const node of body) {
    issues.attempt(() => {
      const name = node.name.text;
      if (name !== 'cert_issuer' && !Object.hasOwn(OPTIONS, name)) {
        const why = Object.hasOwn(UNSUPPORTED, name) ? UNSUPPORTED[name] : undefined;
        if (why !== undefined) throw configError(node.name, `"${name}" is a Caddy global option my-server does not support: ${why} (see docs/caddy-migration.md)`);
        throw configError(node.name, `unknown global option "${name}"`);
      }
      // Several servers blocks may appear, one per listener address (parseServers checks that);
      // several log blocks too, one per logger name (parseGlobalLog checks that); order rules add up.
      if (name !== 'servers' && name !== 'order' && name !== 'log') once.check(node);
      if (name === 'cert_issuer') issuer = parseIssuer(node);
      else OPTIONS[name as Exclude<GlobalOptionName, 'cert_issuer'>](node, draft);
      draft.sources[name as GlobalOptionName] ??= posOf(node.name);
    });
  }
  if (draft.sources.debug !== undefined) draft.log = { ...draft.log, level: 'debug' };
  if (issuer?.kind === 'internal') draft.localCerts = true;
  if (issuer?.kind === 'acme') {
    const { ca, email, profile, eab, challenges, preferredChains } = issuer;
    if (ca !== undefined) draft.acmeCa = ca;
    if (email !== undefined) draft.email = email;
    if (profile !== undefined) draft.acmeProfile = profile;
    if (eab !== undefined) draft.acmeEab = eab;
    if (challenges !== undefined) draft.challenges = challenges;
    if (preferredChains !== undefined) draft.preferredChains = preferredChains;
  }
  return draft;
}

export function keyTypeArg(tok: Token): KeyType {
  if (tok.text === 'ed25519') {
    // Let's Encrypt and the other public ACME CAs refuse Ed25519 CSR keys; the local CA could sign one, but x509/ does not make them yet.
    throw configError(tok, 'key type "ed25519" is not supported yet: public ACME CAs refuse Ed25519 keys and the local CA does not issue them (use p256)');
  }
  if (!(KEY_TYPES as readonly string[]).includes(tok.text)) {
    throw configError(tok, `unsupported key type "${tok.text}" (use ${KEY_TYPES.join(', ')})`);
  }
  return tok.text as KeyType;
}

export function unknownSub(sub: Node, parent: string): ConfigError {
  return configError(sub.name, `unknown subdirective "${sub.name.text}" in ${parent}`);
}

/** Caddy 2.8's `permission http ENDPOINT`: the `ask` check under its module name (the only module there is here). */
function permissionHttp(sub: Node): string {
  const [module, endpoint] = argsOf(sub, 2, 2, 'permission http URL') as [Token, Token];
  if (module.text !== 'http') throw configError(module, `on_demand_tls: unsupported permission module "${module.text}" (use http, or ask URL)`);
  return urlArg(endpoint, 'permission endpoint');
}

/** A host name or IP address as default_sni/fallback_sni name it, normalised as site addresses are. */
function sniNameArg(tok: Token, option: string): string {
  let host: string;
  try {
    const a = parseSiteAddress(tok);
    if (a.scheme !== undefined || a.port !== undefined) throw new Error('scheme or port');
    host = a.host;
  } catch {
    throw configError(tok, `${option}: "${tok.text}" is not a host name`);
  }
  if (host === '') throw configError(tok, `${option}: "${tok.text}" is not a host name`);
  return host;
}

function parseStorage(node: Node): StorageConfig {
  const usage = 'storage file_system PATH | storage file_system { root PATH } | storage redis URL [{ prefix P; timeout D; lock_lease D; tls_server_certs_path FILE }]';
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
    const subs = new Map<string, Node>();
    for (const sub of node.block ?? []) {
      if (!['prefix', 'timeout', 'lock_lease', 'tls_server_certs_path'].includes(sub.name.text)) throw unknownSub(sub, 'storage redis');
      noBlock(sub);
      if (subs.has(sub.name.text)) throw configError(sub.name, `${sub.name.text} is already set`);
      subs.set(sub.name.text, sub);
    }
    const arg = (name: string, usageOf: string): Token | undefined => {
      const sub = subs.get(name);
      return sub === undefined ? undefined : oneArg(sub, usageOf);
    };
    const prefix = arg('prefix', 'prefix P')?.text;
    const timeoutTok = arg('timeout', 'timeout D');
    const timeoutMs = timeoutTok === undefined ? undefined : durationArg(timeoutTok);
    if (timeoutTok !== undefined && timeoutMs !== undefined && (timeoutMs < 100 || timeoutMs > 60_000)) {
      throw configError(timeoutTok, `storage redis: timeout ${timeoutTok.text} must be between 100ms and 1m`);
    }
    const leaseTok = arg('lock_lease', 'lock_lease D');
    const lockLeaseMs = leaseTok === undefined ? undefined : durationArg(leaseTok);
    // The holder refreshes every third of the lease: below a second that is a command every few
    // hundred milliseconds per lock, for no gain.
    if (leaseTok !== undefined && lockLeaseMs !== undefined && lockLeaseMs < 1_000) {
      throw configError(leaseTok, `storage redis: lock_lease ${leaseTok.text} must be at least 1s`);
    }
    const caTok = arg('tls_server_certs_path', 'tls_server_certs_path FILE');
    if (caTok !== undefined && url.protocol !== 'rediss:') {
      throw configError(caTok, `storage redis: tls_server_certs_path needs a rediss:// URL (TLS), not ${url.protocol}//`);
    }
    if (caTok !== undefined && caTok.text === '') throw configError(caTok, 'storage redis: tls_server_certs_path: empty path');
    return {
      kind: 'redis',
      url: urlTok.text,
      prefix: prefix ?? GLOBAL_DEFAULTS.redisPrefix,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(lockLeaseMs !== undefined ? { lockLeaseMs } : {}),
      ...(caTok !== undefined ? { tlsServerCertsPath: caTok.text } : {}),
    };
  }
  throw configError(kind, `storage: unsupported module "${kind.text}" (use file_system or redis)`);
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

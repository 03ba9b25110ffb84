/**
 * What a reload changes: the one comparison of a running config with the next. app.ts acts on the
 * answer (a new storage stack, new ACME issuers, a new on-demand policy, a new log stream, admin
 * API moved, listeners opened and closed, files watched) and never compares configs itself.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/types.ts';
import { listenersOf, type ListenerKey } from './generation.ts';
import { readCaRoot, storageSpecFor } from './setup.ts';

/** A config and what was read for it at load time. */
export interface PlanInput {
  readonly config: Config;
  /** The content of `acme_ca_root`: a new root under the same path is a change too. */
  readonly caRoots?: string | undefined;
}

/** Reads what a config names besides itself (the `acme_ca_root` file); rejects naming the file. */
export async function planInput(config: Config): Promise<PlanInput> {
  return { config, caRoots: await readCaRoot(config.globals) };
}

export interface ReloadPlan {
  /** Where storage is (`storage`, or MY_SERVER_STORAGE): a new stack. */
  readonly storage: boolean;
  /** What ACME issuers and accounts are made from (EAB, profile, lifetime, the CA root): new issuers. */
  readonly acme: boolean;
  /** `on_demand_tls`: a new policy (else the running one keeps its rate-limit budget). */
  readonly onDemand: boolean;
  /** The process log (`log`): the logger is reconfigured. */
  readonly log: boolean;
  /** The admin API's address, or whether there is one: it is restarted. */
  readonly admin: boolean;
  /** Listeners by id (`https:443@127.0.0.1`): those to open, and the ids of those to close. */
  readonly listeners: { readonly open: ReadonlyMap<string, ListenerKey>; readonly close: readonly string[] };
  /** The files to watch changed: the config and its imports (with --watch) and `tls CERT KEY` files. */
  readonly files: boolean;
}

/** `prev` undefined: the first start, where everything is new. */
export function plan(prev: PlanInput | undefined, next: PlanInput, env: NodeJS.ProcessEnv = process.env): ReloadPlan {
  const a = prev?.config.globals;
  const b = next.config.globals;
  const changed = <T>(pick: (g: Config['globals']) => T): boolean => a === undefined || !isDeepStrictEqual(pick(a), pick(b));
  const before = prev ? listenerIds(prev.config) : new Map<string, ListenerKey>();
  const after = listenerIds(next.config);
  return {
    storage: a === undefined || !isDeepStrictEqual(storageSpecFor(a, env), storageSpecFor(b, env)),
    acme: changed((g) => [g.acmeEab, g.acmeProfile, g.certLifetimeMs, g.acmeCaRoot, g.preferredChains]) || prev?.caRoots !== next.caRoots,
    onDemand: changed((g) => g.onDemandTls),
    log: changed((g) => [g.log, g.loggers]),
    admin: changed((g) => g.admin),
    listeners: {
      open: new Map([...after].filter(([id]) => !before.has(id))),
      close: [...before.keys()].filter((id) => !after.has(id)),
    },
    files: prev === undefined || !isDeepStrictEqual(watchedFiles(prev.config), watchedFiles(next.config)),
  };
}

/** Every listener of `config`, by protocol, port and the addresses it binds. */
export function listenerIds(config: Config): Map<string, ListenerKey> {
  const binds = config.globals.defaultBind.join(',');
  return new Map(listenersOf(config).map((l) => [`${l.protocol}:${l.port}@${binds}`, l]));
}

/** The Proxyfile and its imports, and the user's certificate files, sorted. */
export function watchedFiles(config: Config): { readonly config: readonly string[]; readonly certificates: readonly string[] } {
  const certificates = new Set<string>();
  for (const site of config.sites) {
    if (site.tls.certFile !== undefined) certificates.add(site.tls.certFile);
    if (site.tls.keyFile !== undefined) certificates.add(site.tls.keyFile);
  }
  return { config: [...config.files].sort(), certificates: [...certificates].sort() };
}

import type { Issuer } from '../certs/issuer.ts';
import { issuerFor, siteFor } from '../config/adapt.ts';
import { loadConfig } from '../config/index.ts';
import type { Config, GlobalOptions } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { loggerFor, readCaRoot } from '../app/setup.ts';
import { acmeSettingsFor, Stack, type Issuers } from '../app/stack.ts';
import { packageVersion } from './version.ts';

/** What the `certs` commands share: the config, the storage stack `run` uses, and its issuers. */
export interface CertsContext {
  readonly config: Config;
  readonly globals: GlobalOptions;
  readonly stack: Stack;
  readonly issuers: Issuers;
  readonly log: Logger;
  /**
   * The issuer `run` would use for `name` (config/adapt.ts issuerFor, with the site serving it);
   * `override` is `--issuer`. Throws when the name's site serves its own certificate files.
   */
  issuerFor(name: string, override?: 'acme' | 'internal'): Issuer;
  close(): Promise<void>;
}

export async function openCertsContext(configFile: string): Promise<CertsContext> {
  const config = await loadConfig(configFile);
  const globals = config.globals;
  const log = loggerFor(globals);
  const caRoots = await readCaRoot(globals);
  const stack = await Stack.open(globals, { log, userAgent: `my-server/${packageVersion()}` });
  const issuers = stack.issuers(acmeSettingsFor(globals, caRoots));
  return {
    config,
    globals,
    stack,
    issuers,
    log,
    issuerFor: (name, override) => {
      const site = siteFor(config, name);
      const choice = issuerFor(site, globals, name, override);
      if (choice === undefined) {
        const at = site?.tls.pos ?? site?.pos;
        throw new Error(`${name} is served from the certificate files of its site's tls directive${at ? ` (${at.file}:${at.line}:${at.col})` : ''}; my-server does not issue for it`);
      }
      return issuers.for(choice);
    },
    close: () => stack.close(),
  };
}

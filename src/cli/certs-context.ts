import type { AcmeClient } from '../acme/client.ts';
import { loadOrCreateAccount } from '../certs/account.ts';
import { AcmeIssuer } from '../certs/acme-issuer.ts';
import { CertificateStore } from '../certs/certificate-store.ts';
import type { Issuer } from '../certs/issuer.ts';
import { LocalIssuer } from '../certs/local-issuer.ts';
import { isLocalOnlyName } from '../certs/names.ts';
import type { Solver } from '../challenges/solver.ts';
import { loadConfig } from '../config/index.ts';
import type { GlobalOptions } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { createStorage, type ClosableStorage } from '../storage/index.ts';
import { loggerFor, readCaRoot, storageSpecFor } from '../app/setup.ts';
import { packageVersion } from './version.ts';

/** What the `certs` commands share: the config's globals, storage, and the issuers built from them. */
export interface CertsContext {
  readonly globals: GlobalOptions;
  readonly storage: ClosableStorage;
  readonly store: CertificateStore;
  readonly log: Logger;
  readonly local: LocalIssuer;
  /** The ACME issuer; `solvers` must be filled before it issues (certs obtain/renew start them). */
  acme(solvers?: ReadonlyMap<string, Solver>): AcmeIssuer;
  issuerFor(name: string, solvers?: ReadonlyMap<string, Solver>): Issuer;
  close(): Promise<void>;
}

export async function openCertsContext(configFile: string): Promise<CertsContext> {
  const config = await loadConfig(configFile);
  const globals = config.globals;
  const log = loggerFor(globals);
  const storage = await createStorage(storageSpecFor(globals));
  const store = new CertificateStore(storage);
  const caRoots = await readCaRoot(globals);
  let client: Promise<AcmeClient> | undefined;
  const getClient = (): Promise<AcmeClient> =>
    (client ??= loadOrCreateAccount({
      directoryUrl: globals.acmeCa,
      storage,
      log: log.child({ logger: 'acme' }),
      userAgent: `my-server/${packageVersion()}`,
      ...(globals.email !== undefined ? { email: globals.email } : {}),
      ...(caRoots !== undefined ? { caRoots } : {}),
      ...(globals.acmeEab ? { eab: globals.acmeEab } : {}),
    }));
  const local = new LocalIssuer({ storage, log: log.child({ logger: 'local-ca' }) });
  const acme = (solvers: ReadonlyMap<string, Solver> = new Map()): AcmeIssuer =>
    new AcmeIssuer({
      client: getClient,
      directoryUrl: globals.acmeCa,
      solvers,
      log: log.child({ logger: 'acme' }),
      ...(globals.acmeProfile !== undefined ? { profile: globals.acmeProfile } : {}),
      ...(globals.certLifetimeMs !== undefined ? { lifetimeMs: globals.certLifetimeMs } : {}),
    });
  return {
    globals,
    storage,
    store,
    log,
    local,
    acme,
    issuerFor: (name, solvers) => (globals.localCerts || isLocalOnlyName(name) ? local : acme(solvers)),
    close: async () => {
      await storage.close();
    },
  };
}

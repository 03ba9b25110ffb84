import { ChallengeServers } from '../challenges/challenge-servers.ts';
import { ChallengeStore } from '../challenges/challenge-store.ts';
import { Http01Solver } from '../challenges/http-01.ts';
import { TlsAlpn01Solver } from '../challenges/tls-alpn-01.ts';
import type { Solver } from '../challenges/solver.ts';
import type { CertsContext } from './certs-context.ts';

/**
 * For `certs obtain`/`certs renew`, which run without the proxy: challenge-only listeners on the
 * config's http_port and https_port (bound to default_bind), and the two solvers feeding them.
 */
export async function startChallengeResponders(ctx: CertsContext): Promise<{ solvers: ReadonlyMap<string, Solver>; close(): Promise<void> }> {
  const store = new ChallengeStore({ storage: ctx.storage });
  const http01 = new Http01Solver({ store });
  const tlsAlpn01 = new TlsAlpn01Solver({ store });
  const hosts = ctx.globals.defaultBind.length > 0 ? ctx.globals.defaultBind : [undefined];
  const servers: ChallengeServers[] = [];
  try {
    for (const host of hosts) {
      servers.push(
        await ChallengeServers.listen({
          http01,
          tlsAlpn01,
          httpPort: ctx.globals.httpPort,
          httpsPort: ctx.globals.httpsPort,
          ...(host !== undefined ? { host } : {}),
        }),
      );
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
  return {
    solvers: new Map<string, Solver>([
      ['tls-alpn-01', tlsAlpn01],
      ['http-01', http01],
    ]),
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}

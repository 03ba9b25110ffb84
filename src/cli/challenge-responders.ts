import { ChallengeServers } from '../challenges/challenge-servers.ts';
import type { CertsContext } from './certs-context.ts';

/**
 * For `certs obtain`/`certs renew`, which run without the proxy: challenge-only listeners on the
 * config's http_port and https_port (bound to default_bind), answering from the stack's solvers,
 * the ones its ACME issuers present challenges to.
 */
export async function startChallengeResponders(ctx: CertsContext): Promise<{ close(): Promise<void> }> {
  const hosts = ctx.globals.defaultBind.length > 0 ? ctx.globals.defaultBind : [undefined];
  const servers: ChallengeServers[] = [];
  try {
    for (const host of hosts) {
      servers.push(
        await ChallengeServers.listen({
          http01: ctx.stack.http01,
          tlsAlpn01: ctx.stack.tlsAlpn01,
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
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}

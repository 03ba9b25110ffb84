import type { IncomingHttpHeaders } from 'node:http';
import type { Config, ServerOptions } from '../config/types.ts';
import { clientIp, IpRanges, type ClientIpPolicy } from '../util/ip-ranges.ts';

/**
 * The `servers` block that applies to a listener: the one whose ADDR has the listener's port,
 * else the one without ADDR. Listeners are bound per port here, so ADDR's host part does not narrow
 * the choice further (Caddy matches the whole listener address; ours are one per port).
 */
export function serverOptionsFor(servers: readonly ServerOptions[] | undefined, port: number): ServerOptions | undefined {
  return servers?.find((s) => s.port === port) ?? servers?.find((s) => s.address === undefined);
}

/**
 * Each listener's client-IP policy, compiled once per config (a reload brings a new Config object,
 * and the cache starts over). Undefined: no trusted proxies, the peer is the client.
 */
export class ClientIpPolicies {
  #config: Config | undefined;
  readonly #byPort = new Map<number, ClientIpPolicy | undefined>();

  policy(config: Config, port: number): ClientIpPolicy | undefined {
    if (config !== this.#config) {
      this.#config = config;
      this.#byPort.clear();
    }
    if (this.#byPort.has(port)) return this.#byPort.get(port);
    const s = serverOptionsFor(config.globals.servers, port);
    const policy = s === undefined || s.trustedProxies.length === 0
      ? undefined
      : { trusted: new IpRanges(s.trustedProxies), headers: s.clientIpHeaders, strict: s.trustedProxiesStrict };
    this.#byPort.set(port, policy);
    return policy;
  }

  /** Sets `trustedPeer` and `clientIp` on a request's context, by the listener's `servers` block. */
  apply(ctx: { remoteAddress: string; trustedPeer?: boolean; clientIp?: string }, config: Config | undefined, port: number, headers: IncomingHttpHeaders): void {
    const who = clientIp(ctx.remoteAddress, headers, config === undefined ? undefined : this.policy(config, port));
    ctx.trustedPeer = who.trustedPeer;
    ctx.clientIp = who.clientIp;
  }
}

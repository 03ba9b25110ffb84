import type { ReverseProxyConfig, ReverseProxyRoute } from '../config/types.ts';

/**
 * The proxy's configuration of a reverse_proxy route: the route itself, since the config has one
 * shape for it (config/types.ts ReverseProxyConfig). Kept only so site-router.ts compiles
 * unchanged; it can pass the route to `new ReverseProxy(route)` and this file can go.
 */
export function toProxyConfig(r: ReverseProxyRoute): ReverseProxyConfig {
  return r;
}

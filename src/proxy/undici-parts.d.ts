/**
 * Types for the two undici modules the transport imports by path (proxy/transport.ts). undici's
 * index loads all of undici (fetch, WebSocket, mocks, caches: ~750 modules, ~10 MiB resident);
 * these two are the Pool and connector that index re-exports, the same objects.
 */
declare module 'undici/lib/dispatcher/pool.js' {
  import { Pool } from 'undici';
  export default Pool;
}
declare module 'undici/lib/core/connect.js' {
  import { buildConnector } from 'undici';
  export default buildConnector;
}
/**
 * Dispatcher#request, which undici's index adds to every dispatcher's prototype (`Object.assign(
 * Dispatcher.prototype, api)`): without the index a Pool has no `request`, so health checks call
 * it with the pool as `this`.
 */
declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici';
  const request: (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
  export default request;
}
/**
 * undici's internal symbols. `kQueuedAbort` names a dispatch option: a function the Pool and the
 * Client call while the request waits for a connection, handing it the function that takes the
 * request out of their queue (undici's own `signal` support uses it; see transport.ts dispatch).
 */
declare module 'undici/lib/core/symbols.js' {
  const symbols: { readonly kQueuedAbort: symbol };
  export default symbols;
}

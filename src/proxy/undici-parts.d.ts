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

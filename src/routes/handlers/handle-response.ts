/**
 * copy_response and copy_response_headers: they act on the upstream's response inside a
 * reverse_proxy's handle_response block. The proxy does not run handle_response yet (its hook
 * belongs in src/proxy/reverse-proxy.ts), so no request reaches these steps; if one did, there
 * would be no upstream response to copy, which is Caddy's 500 too.
 */
import type { CopyResponseHeadersRoute, CopyResponseRoute } from '../../config/types.ts';
import { HandlerError } from './errors.ts';
import type { HandlerCompiler } from './types.ts';

const noResponse = (name: string): HandlerError => new HandlerError(500, `${name}: no upstream response to copy outside handle_response`);

export const copyResponse: HandlerCompiler<CopyResponseRoute> = () => ({
  step: () => {
    throw noResponse('copy_response');
  },
});

export const copyResponseHeaders: HandlerCompiler<CopyResponseHeadersRoute> = () => ({
  step: () => {
    throw noResponse('copy_response_headers');
  },
});

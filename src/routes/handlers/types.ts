/**
 * What a handler directive compiles to, and what compiling one may use. Each handler kind has one
 * compiler (routes/site-router.ts HANDLERS); the router adds the route's matcher and group.
 */
import type { Duplex } from 'node:stream';
import type { Route, ReverseProxyRoute } from '../../config/types.ts';
import type { Logger } from '../../log.ts';
import type { ReverseProxy } from '../../proxy/reverse-proxy.ts';
import type { Req, RequestContext, Res } from '../context.ts';
import type { MetricsSource } from './request.ts';

/**
 * Runs the handler; resolves true when it answered the request (nothing after it runs), false to
 * let the chain go on (middleware such as header, or a block none of whose routes answered).
 */
export type Step = (req: Req, res: Res, ctx: UpgradableContext) => Promise<boolean> | boolean;

/**
 * A WebSocket (or other) upgrade request runs through the same chain as any request: the
 * reverse_proxy that reaches it takes the socket; any other handler answers it on a response made
 * for the socket.
 */
export interface UpgradableContext extends RequestContext {
  upgrade?: { readonly socket: Duplex; readonly head: Buffer; readonly detach: () => void };
}

export interface CompiledHandler {
  readonly step: Step;
}

export interface CompileContext {
  readonly log: Logger;
  /** Compiles a nested block's routes (already in run order). */
  readonly compile: (routes: readonly Route[]) => CompiledChain;
  /** A ReverseProxy the router owns (closed with it). */
  readonly proxy: (route: ReverseProxyRoute) => ReverseProxy;
  /** The site has handle_errors routes: handlers raise their errors (HandlerError) for them to answer. */
  readonly handlesErrors: boolean;
  /** The process's metrics, for the metrics handler; absent when the router was built without them. */
  readonly metrics?: MetricsSource;
}

/** A compiled list of routes; run() resolves true when one answered. */
export interface CompiledChain {
  run(req: Req, res: Res, ctx: UpgradableContext): Promise<boolean>;
}

export type HandlerCompiler<R extends Route> = (route: R, cx: CompileContext) => CompiledHandler;

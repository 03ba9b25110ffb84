import type tls from 'node:tls';

/**
 * SecureContexts whose SSL_CTX was freed before the garbage collector got to them. Node asserts
 * (aborting the process) when a TLSSocket is made with such a context, so whoever hands a context
 * to a new socket checks isFreed first: a bug in the timing of a free then costs one handshake,
 * not the process.
 */
const FREED = new WeakSet<tls.SecureContext>();

/**
 * Frees `context`'s SSL_CTX now, instead of when V8 collects it (late: V8 does not see its size).
 * Connections that already took it keep it: their SSL holds its own reference to the SSL_CTX.
 * `context.close()` is Node's own (internal) call for it; where a Node lacks it, the garbage
 * collector still frees the context, later.
 */
export function freeSecureContext(context: tls.SecureContext): void {
  const close = (context as { context?: { close?: () => void } }).context?.close;
  if (close === undefined) return;
  close.call((context as { context: unknown }).context);
  FREED.add(context);
}

/** Whether freeSecureContext freed it: a new connection must not be made with it. */
export function isFreed(context: tls.SecureContext): boolean {
  return FREED.has(context);
}

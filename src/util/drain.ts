import type { Socket } from 'node:net';
import type { Server } from 'node:http';
import { sleep } from './backoff.ts';

/**
 * A graceful close's wait: idle HTTP/1.1 connections of `h1` are closed now and every 100 ms (busy
 * ones become idle once their response is sent), until `sockets` is empty; after `graceMs` the
 * rest are destroyed. `sockets` must hold every connection, upgraded ones included.
 */
export async function drainSockets(sockets: ReadonlySet<Socket>, h1: Server, graceMs: number): Promise<void> {
  h1.closeIdleConnections();
  const sweep = setInterval(() => h1.closeIdleConnections(), 100);
  const deadline = setTimeout(() => {
    for (const s of sockets) s.destroy();
  }, graceMs);
  try {
    while (sockets.size > 0) await sleep(50);
  } finally {
    clearInterval(sweep);
    clearTimeout(deadline);
  }
}

import type { Server } from 'node:net';
import { MyServerError } from '../errors.ts';

export interface Listening {
  readonly address: string;
}

/**
 * Listen on `port` (all interfaces when `host` is undefined); rejects with a message naming the
 * address, e.g. "listening on 127.0.0.1:443: EACCES" (a privileged port without the capability).
 * A server may listen on several addresses: each call binds another handle.
 */
export function listen(server: Server, port: number, host: string | undefined): Promise<Listening> {
  const where = `${host === undefined ? '*' : host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new MyServerError('MS_ERR_LISTEN', `listening on ${where}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ port, ...(host !== undefined ? { host } : {}), exclusive: false }, () => {
      server.off('error', onError);
      resolve({ address: where });
    });
  });
}

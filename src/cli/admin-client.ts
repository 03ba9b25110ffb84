/**
 * The CLI's client of a running instance's admin API (`reload`, `health`): one way to turn an
 * `admin` address into where to connect, and one request function.
 *
 * The address has the `admin` option's syntax (admin/admin-address.ts): `host:port`, `:port`,
 * `[ipv6]:port` or `unix//path`. An API bound to every interface is reached on loopback. Requests
 * send `Host: localhost`, which the admin API's Host check (admin-server.ts) accepts on any address.
 */
import http from 'node:http';
import { parseAdminAddress } from '../admin/admin-address.ts';
import { usageError } from './usage.ts';

/** Where to connect: a socket path, or a host and port. */
export type AdminTarget = { readonly socketPath: string } | { readonly host: string; readonly port: number };

/** The connect target of an admin address; a usage error (exit 2) naming it when it is not one. */
export function adminTarget(address: string): AdminTarget {
  let listen;
  try {
    listen = parseAdminAddress(address);
  } catch (err) {
    throw usageError(err instanceof Error ? err.message : String(err));
  }
  return listen.kind === 'unix' ? { socketPath: listen.path } : { host: loopbackFor(listen.bindHost), port: listen.port };
}

/** Where to reach a listener bound to `bind`: itself, or loopback for every interface. */
export function loopbackFor(bind: string | undefined): string {
  if (bind === undefined || bind === '' || bind === '0.0.0.0') return '127.0.0.1';
  if (bind === '::' || bind === '[::]') return '::1';
  const host = bind.replace(/^\[|\]$/g, '').replace(/^(tcp[46]?|udp[46]?)\//, '');
  return host === 'localhost' ? '127.0.0.1' : host;
}

export interface AdminRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: string;
  readonly contentType?: string;
  /** For the whole exchange, from the request to the end of the answer's body. */
  readonly timeoutMs: number;
}

/**
 * One request to the admin API at `target`, without keep-alive. Resolves with the status and the
 * body; rejects with the network error, or when no complete answer came within the timeout.
 */
export function adminRequest(target: AdminTarget, r: AdminRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        ...target,
        method: r.method,
        path: r.path,
        agent: false,
        headers: { host: 'localhost', ...(r.contentType !== undefined ? { 'content-type': r.contentType } : {}) },
        signal: AbortSignal.timeout(r.timeoutMs),
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8').on('data', (d: string) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
        res.on('error', reject);
      },
    );
    req.on('error', (err) => reject(err.name === 'AbortError' ? new Error(`no answer within ${r.timeoutMs} ms`, { cause: err }) : err));
    req.end(r.body);
  });
}

/**
 * HTTP-01 (RFC 8555 §8.3): the CA fetches
 * "http://<domain>/.well-known/acme-challenge/<token>" and expects the key authorization.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MyServerError } from '../errors.ts';
import type { ChallengeStore } from './challenge-store.ts';
import { identifierForHost, identifierKey } from './identifiers.ts';
import type { ChallengeInfo, Solver } from './solver.ts';

export const HTTP01_PATH_PREFIX = '/.well-known/acme-challenge/';

/**
 * RFC 8555 §8.1: the token "MUST NOT contain any characters outside the base64url alphabet", so
 * a token cannot contain '/', '.', '%' or anything a path trick needs.
 */
const TOKEN = /^[A-Za-z0-9_-]+$/;

/**
 * Answers HTTP-01 challenges from a ChallengeStore. `present` makes a token answerable by every
 * instance sharing the store; `cleanup` withdraws it. `handleHttp01` is safe to call for every
 * request on the HTTP port.
 */
export class Http01Solver implements Solver {
  readonly #store: ChallengeStore;

  constructor(options: { readonly store: ChallengeStore }) {
    this.#store = options.store;
  }

  async present(challenge: ChallengeInfo, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new MyServerError('MS_ERR_ABORTED', 'presenting http-01 challenge', { cause: signal.reason });
    if (!TOKEN.test(challenge.token)) {
      throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `http-01 token ${JSON.stringify(challenge.token)} is not base64url`);
    }
    await this.#store.put('http-01', challenge.token, { keyAuthorization: challenge.keyAuthorization, identifier: challenge.identifier });
  }

  async cleanup(challenge: ChallengeInfo): Promise<void> {
    await this.#store.delete('http-01', challenge.token);
  }

  /**
   * Whether a token `req` asks for is pending here for its Host: lets a caller holding two solvers
   * (a reload that changed storage, while the old one's orders finish) pick the one to answer.
   */
  async knows(req: IncomingMessage): Promise<boolean> {
    const { path, authority } = splitTarget(req.url ?? '');
    if (!path.startsWith(HTTP01_PATH_PREFIX)) return false;
    const token = path.slice(HTTP01_PATH_PREFIX.length);
    const host = identifierForHost(authority ?? req.headers.host);
    if (!TOKEN.test(token) || host === undefined) return false;
    const pending = await this.#store.get('http-01', token).catch(() => undefined);
    return pending !== undefined && identifierKey(pending.identifier) === host;
  }

  /**
   * Answers the request if its path is under /.well-known/acme-challenge/ and resolves true;
   * resolves false, touching nothing, for any other path. Under the prefix, only GET or HEAD of a
   * base64url token pending for the request's Host (compared without port, case-insensitively,
   * IPv6 canonically) gets 200 text/plain with the key authorization; everything else gets 404,
   * so no other value (another host's token, a file, a traversal) is reachable through it.
   * Never rejects: a storage failure is answered with 500.
   */
  async handleHttp01(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const { path, authority } = splitTarget(req.url ?? '');
    if (!path.startsWith(HTTP01_PATH_PREFIX)) return false;
    const token = path.slice(HTTP01_PATH_PREFIX.length);
    // RFC 9112 §3.2.2: with an absolute-form target, the Host header is ignored for the authority.
    const host = identifierForHost(authority ?? req.headers.host);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !TOKEN.test(token) || host === undefined) {
      respond(res, 404, 'Not Found\n');
      return true;
    }
    try {
      const pending = await this.#store.get('http-01', token);
      if (pending === undefined || identifierKey(pending.identifier) !== host) {
        respond(res, 404, 'Not Found\n');
      } else {
        respond(res, 200, pending.keyAuthorization);
      }
    } catch {
      respond(res, 500, 'Internal Server Error\n');
    }
    return true;
  }
}

/** The path (query dropped) and, for an absolute-form target ("http://h/a?b"), the authority. */
function splitTarget(target: string): { path: string; authority?: string } {
  let path = target;
  let authority: string | undefined;
  if (!path.startsWith('/')) {
    const absolute = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(path);
    authority = absolute?.[1];
    path = absolute === null ? '' : path.slice(absolute[0].length);
  }
  const query = path.search(/[?#]/);
  return { path: query === -1 ? path : path.slice(0, query), ...(authority === undefined ? {} : { authority }) };
}

function respond(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

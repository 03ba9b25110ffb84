/**
 * Matcher sets from Proxyfile text, compiled as the site router compiles them, and requests to
 * try them on: real IncomingMessages (not sent over a socket) with the context the request path
 * would build.
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { parseConfig } from '../../../src/config/index.ts';
import { cleanPath, splitTarget, type RequestContext } from '../../../src/routes/context.ts';
import { compileMatcherSet, type Match } from '../../../src/routes/matchers/index.ts';

/** `@m LINE` or, with newlines, `@m { LINES }`; the compiled set. */
export async function matcherOf(def: string): Promise<Match> {
  const body = def.includes('\n') ? `@m {\n${def}\n}` : `@m ${def}`;
  const config = await parseConfig(`http://site.test:8080 {\n${body}\nrespond @m "yes"\n}\n`, { filename: 'test' });
  const route = config.sites[0]?.routes[0];
  if (route?.matcher === undefined) throw new Error('no matcher parsed');
  return compileMatcherSet(route.matcher);
}

export interface RequestSpec {
  readonly url?: string;
  readonly method?: string;
  /** Header lines in order; a name may repeat. */
  readonly headers?: readonly (readonly [string, string])[];
  readonly host?: string;
  readonly version?: '1.0' | '1.1' | '2.0';
  readonly scheme?: 'http' | 'https';
  readonly remote?: string;
  readonly clientIp?: string;
  readonly vars?: Readonly<Record<string, unknown>>;
  /** ctx.path after a rewrite (handle_path), when it differs from the target's. */
  readonly path?: string;
}

export function requestOf(spec: RequestSpec): { req: IncomingMessage; ctx: RequestContext } {
  const req = new IncomingMessage(new Socket());
  req.url = spec.url ?? '/';
  req.method = spec.method ?? 'GET';
  const version = spec.version ?? '1.1';
  req.httpVersion = version;
  req.httpVersionMajor = Number(version[0]);
  req.httpVersionMinor = Number(version[2]);
  const lines: (readonly [string, string])[] = [['Host', spec.host ?? 'site.test'], ...(spec.headers ?? [])];
  addHeaderLines(req, lines.flat());
  const { path, query } = splitTarget(req.url);
  const cleaned = cleanPath(path);
  if (cleaned === undefined) throw new Error(`${req.url} does not decode`);
  const ctx: RequestContext = {
    scheme: spec.scheme ?? 'http',
    remoteAddress: spec.remote ?? '127.0.0.1',
    host: (spec.host ?? 'site.test').replace(/:\d+$/, '').toLowerCase(),
    path: spec.path ?? cleaned,
    ...(spec.path !== undefined ? { rewritten: true } : {}),
    query,
    ...(spec.clientIp !== undefined ? { clientIp: spec.clientIp } : {}),
    ...(spec.vars !== undefined ? { vars: new Map(Object.entries(spec.vars)) } : {}),
  };
  return { req, ctx };
}

export async function matches(def: string, spec: RequestSpec): Promise<boolean> {
  const m = await matcherOf(def);
  const { req, ctx } = requestOf(spec);
  return m(req, ctx);
}

/**
 * Header lines as Node's HTTP parser hands them over (IncomingMessage._addHeaderLines), so
 * `headers`, `headersDistinct` and `rawHeaders` all agree as on a received request.
 */
export function addHeaderLines(req: IncomingMessage, raw: string[]): void {
  (req as unknown as { _addHeaderLines(headers: string[], n: number): void })._addHeaderLines(raw, raw.length);
}

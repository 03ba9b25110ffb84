import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { beforeHead } from './header-ops.ts';
import type { Req, Res } from './context.ts';

export type Encoding = 'zstd' | 'gzip';

/** Below this a compressed body saves less than the header costs (Caddy's default minimum_length is 512). */
const MIN_LENGTH = 512;
/** Types that are already compressed; compressing them again wastes CPU for nothing. */
const INCOMPRESSIBLE = /^(image\/(?!svg)|video\/|audio\/|font\/woff2?|application\/(zip|gzip|zstd|x-(?:7z|rar|bzip2|xz)|octet-stream|pdf|wasm)|text\/event-stream)/i;

/** The best of `offered` (server preference order) that the client accepts with q > 0. */
export function negotiateEncoding(acceptEncoding: string | undefined, offered: readonly Encoding[]): Encoding | undefined {
  if (!acceptEncoding) return undefined;
  const accepted = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [token, ...params] = part.trim().toLowerCase().split(';');
    if (!token) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    accepted.set(token, q ? Number(q.slice(2)) || 0 : 1);
  }
  for (const enc of offered) {
    const q = accepted.get(enc) ?? accepted.get('*');
    if (q !== undefined && q > 0) return enc;
  }
  return undefined;
}

/**
 * `encode gzip zstd`: compress the response when the client accepts one of the encodings and the
 * response is worth compressing. Decided at the head (status, type, length known then); the body
 * goes through a zlib stream whose output is written to the real response, with back-pressure
 * from the response honoured. Event streams are left alone so each event reaches the client at once.
 */
export function encodeResponse(req: Req, res: Res, encodings: readonly Encoding[]): void {
  const encoding = negotiateEncoding(req.headers['accept-encoding'] as string | undefined, encodings);
  appendVary(res);
  if (!encoding || req.method === 'HEAD') return;
  const originalWrite = res.write.bind(res) as (chunk: unknown, ...rest: unknown[]) => boolean;
  const originalEnd = res.end.bind(res) as (...args: unknown[]) => unknown;
  let compressor: Transform | undefined;
  beforeHead(res, () => {
    const status = res.statusCode;
    const length = Number(res.getHeader('content-length') ?? Infinity);
    const type = String(res.getHeader('content-type') ?? '');
    if (status < 200 || status === 204 || status === 304 || res.getHeader('content-encoding') !== undefined || length < MIN_LENGTH || INCOMPRESSIBLE.test(type)) {
      return;
    }
    res.setHeader('content-encoding', encoding);
    res.removeHeader('content-length');
    const etag = res.getHeader('etag');
    if (typeof etag === 'string' && !etag.startsWith('W/')) res.setHeader('etag', `W/${etag}`);
    compressor = encoding === 'gzip' ? zlib.createGzip() : zlib.createZstdCompress();
    compressor.on('data', (chunk: Buffer) => {
      if (!originalWrite(chunk)) {
        compressor?.pause();
        res.once('drain', () => compressor?.resume());
      }
    });
    // Writers (a proxied body's pipe) wait for 'drain' on the response when write() said false;
    // when the compressor was what filled up, its drain is the one they wait for.
    compressor.on('drain', () => res.emit('drain'));
    compressor.on('end', () => originalEnd());
    compressor.on('error', () => res.destroy());
  });
  const patchedWrite = (chunk: unknown, ...rest: unknown[]): boolean => {
    if (!res.headersSent) (res.writeHead as unknown as (s: number) => void)(res.statusCode);
    if (!compressor) return originalWrite(chunk, ...rest);
    const cb = rest.find((a) => typeof a === 'function') as ((err?: Error | null) => void) | undefined;
    const enc = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : undefined;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, enc) : (chunk as Uint8Array);
    return compressor.write(buf, cb);
  };
  const patchedEnd = (...args: unknown[]): Res => {
    const chunk = typeof args[0] === 'function' ? undefined : args[0];
    const enc = typeof args[1] === 'string' ? (args[1] as BufferEncoding) : undefined;
    const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined;
    if (!res.headersSent) {
      // A whole body handed to end(): its length decides (a short body is not worth encoding).
      if (chunk !== undefined && chunk !== null && res.getHeader('content-length') === undefined) {
        res.setHeader('content-length', typeof chunk === 'string' ? Buffer.byteLength(chunk, enc) : (chunk as Uint8Array).byteLength);
      }
      (res.writeHead as unknown as (s: number) => void)(res.statusCode);
    }
    if (!compressor) {
      originalEnd(...args);
      return res;
    }
    if (chunk !== undefined && chunk !== null) compressor.write(typeof chunk === 'string' ? Buffer.from(chunk, enc) : (chunk as Uint8Array));
    if (cb) res.once('finish', cb);
    compressor.end();
    return res;
  };
  (res as unknown as { write: typeof patchedWrite }).write = patchedWrite;
  (res as unknown as { end: typeof patchedEnd }).end = patchedEnd;
}

function appendVary(res: Res): void {
  const vary = res.getHeader('vary');
  const list = vary === undefined ? [] : String(vary).split(',').map((v) => v.trim());
  if (!list.some((v) => v.toLowerCase() === 'accept-encoding')) res.setHeader('vary', [...list, 'Accept-Encoding'].filter(Boolean).join(', '));
}

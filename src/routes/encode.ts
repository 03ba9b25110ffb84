import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { responseHooks } from '../http/response-hooks.ts';
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
 * response is worth compressing. Decided in the response's head hook (status, type, length known
 * then); body chunks then go through a zlib stream whose output is passed on to the response, with
 * back-pressure from the response honoured. Event streams are left alone so each event reaches the
 * client at once.
 */
export function encodeResponse(req: Req, res: Res, encodings: readonly Encoding[]): void {
  const encoding = negotiateEncoding(req.headers['accept-encoding'] as string | undefined, encodings);
  appendVary(res);
  if (!encoding || req.method === 'HEAD') return;
  let compressor: Transform | undefined;
  responseHooks(res).add((next) => ({
    onHead({ bodyLength }) {
      // A whole body handed to end(): its length decides (a short body is not worth encoding).
      if (bodyLength !== undefined) res.setHeader('content-length', bodyLength);
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
      const z = encoding === 'gzip' ? zlib.createGzip() : zlib.createZstdCompress();
      z.on('data', (chunk: Buffer) => {
        if (!next.write(chunk)) {
          z.pause();
          res.once('drain', () => z.resume());
        }
      });
      // Writers (a proxied body's relay) wait for 'drain' on the response when write() said
      // false; when the compressor was what filled up, its drain is the one they wait for.
      z.on('drain', () => res.emit('drain'));
      z.on('end', () => next.end());
      z.on('error', () => res.destroy());
      compressor = z;
    },
    onChunk(chunk) {
      return compressor ? compressor.write(chunk) : next.write(chunk);
    },
    onEnd(last) {
      if (!compressor) return next.end(last);
      if (last !== undefined) compressor.write(last);
      compressor.end();
    },
    // The compressor keeps chunks until it has read them; without one they pass on at once.
    retainsChunks: () => compressor !== undefined,
  }));
}

function appendVary(res: Res): void {
  const vary = res.getHeader('vary');
  const list = vary === undefined ? [] : String(vary).split(',').map((v) => v.trim());
  if (!list.some((v) => v.toLowerCase() === 'accept-encoding')) res.setHeader('vary', [...list, 'Accept-Encoding'].filter(Boolean).join(', '));
}

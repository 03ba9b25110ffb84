/**
 * Static files with Caddy's file_server semantics. The conditional and single-range machinery is
 * the `send` library's (ETag/Last-Modified validators, 304, 206/416, HEAD), which streams the
 * file from disk to the socket; multipart/byteranges for several ranges, which `send` answers
 * with the whole file, is here, as Go's http.ServeContent (Caddy's) does it.
 */
import { createReadStream, lstat, readdir, realpath, type BigIntStats, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { pipeline } from 'node:stream/promises';
import mime from 'mime-types';
import parseRange from 'range-parser';
import send from 'send';
import { compileHide, joinUnderRoot, statFile, StatBatch } from './locate.ts';
import { SmallFiles } from './small-files.ts';
import { CHUNK_BYTES, pipeFile } from './file-stream.ts';
import { escapeHtml, renderListing, type ListingEntry } from './browse.ts';
import type { BrowseOptions } from '../config/types.ts';

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

export type Precompressed = 'br' | 'zstd' | 'gzip';

export interface StaticOptions {
  /** Absolute or relative to the working directory; placeholders already expanded. */
  readonly root: string;
  readonly hide: readonly string[];
  /** Index file names tried in a directory, in order. */
  readonly index: readonly string[];
  readonly browse: boolean;
  /** Listing order, entry cap and link targets; absent: Caddy's defaults (namedirfirst, asc). */
  readonly browseOptions?: BrowseOptions;
  /** Sidecar encodings in the preference order configured. */
  readonly precompressed: readonly Precompressed[];
  /** Status for a served file (Caddy's `status`, for error pages); absent: 200. */
  readonly status?: number;
  /** Redirect a directory requested without its trailing slash (Caddy's canonical URIs). */
  readonly canonicalUris: boolean;
}

/** Files up to this size are answered from one buffer (read once, or cached) rather than a stream. */
const SMALL_FILE_BYTES = 64 * 1024;
/** One cache for the process (every route and site), so many file_server sites do not multiply its bound. */
const smallFiles = new SmallFiles(4 * 1024 * 1024);

const SIDECAR_EXT: Readonly<Record<Precompressed, string>> = { br: '.br', zstd: '.zst', gzip: '.gz' };

/** Compiled once per route: the hide list. */
export class StaticFiles {
  readonly #opts: StaticOptions;
  readonly #hidden: (file: string) => boolean;
  /** The stats of a request's file, shared by the requests of one loop turn (locate.ts). */
  readonly #stats = new StatBatch();
  /** Content-Type by extension: mime-types' lookup is a pure function of it, asked on every request. */
  readonly #types = new Map<string, string | false>();

  constructor(opts: Omit<StaticOptions, 'root'>) {
    this.#opts = { ...opts, root: '' };
    this.#hidden = compileHide(opts.hide);
  }

  #contentType(file: string): string | false {
    const ext = path.extname(file);
    let type = this.#types.get(ext);
    if (type === undefined) {
      type = mime.contentType(ext);
      // Bounded by the extensions the mime table knows, plus a few unknown ones.
      if (this.#types.size < 1024) this.#types.set(ext, type);
    }
    return type;
  }

  /**
   * Answers the request from the file `requestPath` names under `root`; resolves false (nothing
   * written) when there is no such file, so the caller answers 404 or passes the request on.
   * `publicPath` is the path the client asked for (before any handle_path strip), for redirects.
   */
  async serve(req: Req, res: Res, root: string, requestPath: string, publicPath: string, query: string): Promise<boolean> {
    const file = joinUnderRoot(root, requestPath);
    if (file === undefined || this.#hidden(file)) return false;
    const stats = await this.#stats.stat(file);
    if (stats === undefined) return false;
    if (stats.isDirectory()) {
      if (this.#opts.canonicalUris && !requestPath.endsWith('/')) {
        redirect(res, `${publicPath}/${query ? `?${query}` : ''}`, req.method);
        return true;
      }
      for (const name of this.#opts.index) {
        const candidate = path.join(file, name);
        if (this.#hidden(candidate)) continue;
        const s = await this.#stats.stat(candidate);
        if (s?.isFile()) {
          await this.#sendFile(req, res, candidate, s);
          return true;
        }
      }
      if (!this.#opts.browse) return false;
      await this.#browse(req, res, file, publicPath);
      return true;
    }
    if (!stats.isFile()) return false;
    await this.#sendFile(req, res, file, stats);
    return true;
  }

  async #sendFile(req: Req, res: Res, file: string, stats: Stats): Promise<void> {
    const type = this.#contentType(file);
    let served = file;
    let servedStats = stats;
    if (this.#opts.precompressed.length > 0) {
      const accepted = acceptedEncodings(header(req, 'accept-encoding'));
      for (const enc of this.#opts.precompressed) {
        if (!accepted.has(enc)) continue;
        const sidecar = `${file}${SIDECAR_EXT[enc]}`;
        const s = await this.#stats.stat(sidecar);
        if (s?.isFile() && !this.#hidden(sidecar)) {
          served = sidecar;
          servedStats = s;
          res.setHeader('content-encoding', enc);
          // As Caddy 2.6.2: Vary only on a sidecar answer (checked with the real binary).
          res.setHeader('vary', 'Accept-Encoding');
          break;
        }
      }
    }
    if (type !== false) res.setHeader('content-type', type);
    // Caddy's validator: mtime (seconds) and size in base 36, so caches see the same ETag from both.
    const etag = `"${Math.floor(servedStats.mtimeMs / 1000).toString(36)}${servedStats.size.toString(36)}"`;
    res.setHeader('etag', etag);
    if (notModified(req, etag, servedStats.mtime)) {
      // Go's 304 (net/http writeNotModified): the ETag stays, content fields and Last-Modified go.
      for (const h of ['content-type', 'content-encoding', 'content-length']) res.removeHeader(h);
      res.statusCode = 304;
      res.end();
      return;
    }
    if (unsatisfiable(req, servedStats.size)) {
      // Go's http.Error for a range that overlaps nothing, as Caddy answers it.
      const body = 'invalid range: failed to overlap\n';
      for (const h of ['content-encoding', 'etag']) res.removeHeader(h);
      res.statusCode = 416;
      res.setHeader('content-range', `bytes */${servedStats.size}`);
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('last-modified', servedStats.mtime.toUTCString());
      res.setHeader('etag', etag);
      if (req.method === 'HEAD') res.end();
      else res.end(body);
      return;
    }
    if (this.#opts.status !== undefined) res.statusCode = this.#opts.status;
    if (plainRequest(req)) {
      const whole = this.#sendWhole(req, res, served, servedStats);
      if (whole === true || (whole !== false && (await whole))) return;
    }
    if (await this.#multipart(req, res, served, servedStats, type === false ? undefined : type)) return;
    await sendWith(req, res, served, servedStats);
  }

  /**
   * A file asked for whole, with no validator or range to weigh: the headers `send` would write,
   * then a small file's bytes in one `end` (from the cache when the file's stat still matches) or
   * a larger one from reused buffers. False (nothing written) when a small file changed under us;
   * `send` then answers as before.
   */
  #sendWhole(req: Req, res: Res, file: string, stats: Stats): boolean | Promise<boolean> {
    if (req.method === 'HEAD') {
      this.#wholeHead(res, file, stats);
      res.end();
      return true;
    }
    if (stats.size > SMALL_FILE_BYTES) {
      this.#wholeHead(res, file, stats);
      return pipeFile(res, file, stats.size).then(() => true);
    }
    // A cache hit answers without a promise: the hot path of a small file.
    const hit = smallFiles.cached(file, stats);
    if (hit !== undefined) {
      this.#wholeHead(res, file, stats);
      res.end(hit);
      return true;
    }
    return smallFiles.get(file, stats).then((bytes) => {
      if (bytes === undefined) return false;
      this.#wholeHead(res, file, stats);
      res.end(bytes);
      return true;
    });
  }

  /** send's fields for a whole file, in its order and by its rule: a field a directive set before file_server is kept. */
  #wholeHead(res: Res, file: string, stats: Stats): void {
    if (!res.getHeader('accept-ranges')) res.setHeader('accept-ranges', 'bytes');
    if (!res.getHeader('last-modified')) res.setHeader('last-modified', this.#httpDate(stats.mtimeMs));
    if (!res.getHeader('content-type')) res.setHeader('content-type', this.#contentType(file) || 'application/octet-stream');
    res.setHeader('content-length', String(stats.size));
  }

  /** The last Last-Modified text made, by its mtime: a hot file asks for the same one every time. */
  #lastDate = { ms: Number.NaN, text: '' };

  #httpDate(mtimeMs: number): string {
    const last = this.#lastDate;
    if (last.ms !== mtimeMs) this.#lastDate = { ms: mtimeMs, text: new Date(mtimeMs).toUTCString() };
    return this.#lastDate.text;
  }

  /** Several ranges: multipart/byteranges, unless a validator or If-Range says to send it whole. */
  async #multipart(req: Req, res: Res, file: string, stats: Stats, type: string | undefined): Promise<boolean> {
    const range = header(req, 'range');
    if (range === undefined || !range.includes(',')) return false;
    if (header(req, 'if-none-match') !== undefined || header(req, 'if-modified-since') !== undefined) return false;
    const ifRange = header(req, 'if-range');
    if (ifRange !== undefined && ifRange !== res.getHeader('etag')) return false;
    const ranges = parseRange(stats.size, range, { combine: false });
    if (!Array.isArray(ranges) || ranges.type !== 'bytes' || ranges.length < 2) return false;
    // Go serves the whole file when the parts would add up to more than it.
    if (ranges.reduce((n, r) => n + r.end - r.start + 1, 0) > stats.size) return false;
    const boundary = randomBytes(30).toString('hex');
    const heads = ranges.map(
      (r, i) =>
        `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Range: bytes ${r.start}-${r.end}/${stats.size}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`,
    );
    const tail = `\r\n--${boundary}--\r\n`;
    const length = heads.reduce((n, h) => n + Buffer.byteLength(h), 0) + ranges.reduce((n, r) => n + r.end - r.start + 1, 0) + tail.length;
    res.statusCode = 206;
    res.setHeader('accept-ranges', 'bytes');
    res.setHeader('last-modified', stats.mtime.toUTCString());
    res.setHeader('content-type', `multipart/byteranges; boundary=${boundary}`);
    res.setHeader('content-length', String(length));
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    const out = res as unknown as NodeJS.WritableStream;
    for (const [i, r] of ranges.entries()) {
      out.write(heads[i] as string);
      await pipeline(createReadStream(file, { start: r.start, end: r.end }), out, { end: false });
    }
    res.end(tail);
    return true;
  }

  async #browse(req: Req, res: Res, dir: string, publicPath: string): Promise<void> {
    const opts = this.#opts.browseOptions;
    let names = await new Promise<string[]>((resolve) => readdir(dir, (err, n) => resolve(err ? [] : n)));
    // Caddy reads at most file_limit entries, in directory order, before sorting.
    if (opts?.fileLimit !== undefined) names = names.slice(0, opts.fileLimit);
    const entries: ListingEntry[] = [];
    for (const name of names) {
      const full = path.join(dir, name);
      if (this.#hidden(full)) continue;
      // BigInt: Caddy's mod_time carries the nanoseconds.
      const link = await new Promise<BigIntStats | undefined>((resolve) => lstat(full, { bigint: true }, (err, s) => resolve(err ? undefined : s)));
      if (link === undefined) continue;
      const isSymlink = link.isSymbolicLink();
      // As Caddy lists a link: the target's size and folder mark, the link's own time and mode
      // (a dangling link keeps its own size).
      const followed = isSymlink ? await statFile(full) : undefined;
      const s = followed ?? { isDirectory: () => link.isDirectory(), size: Number(link.size) };
      const target =
        isSymlink && opts?.revealSymlinks === true ? await new Promise<string | undefined>((resolve) => realpath(full, (err, p) => resolve(err ? undefined : p))) : undefined;
      entries.push({ name, isDir: s.isDirectory(), size: s.size, mtime: link.mtime, mtimeNs: link.mtimeNs, mode: Number(link.mode), isSymlink, ...(target !== undefined ? { symlinkPath: target } : {}) });
    }
    const json = (header(req, 'accept') ?? '').includes('application/json');
    const { type, body } = renderListing(entries, publicPath, json, opts ?? { sort: 'namedirfirst', order: 'asc', revealSymlinks: false });
    res.statusCode = this.#opts.status ?? 200;
    res.setHeader('content-type', type);
    res.setHeader('content-length', String(Buffer.byteLength(body)));
    if (req.method === 'HEAD') res.end();
    else res.end(body);
  }
}

/**
 * RFC 9110 §13.1 as Go checks it for GET and HEAD: If-None-Match (weak comparison, `*`) decides
 * when present; else If-Modified-Since at one-second precision.
 */
function notModified(req: Req, etag: string, mtime: Date): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  // If-Match and If-Unmodified-Since come first in Go's checkPreconditions (a failing one is 412):
  // such a request goes to send, which checks them in that order.
  if (header(req, 'if-match') !== undefined || header(req, 'if-unmodified-since') !== undefined) return false;
  const inm = header(req, 'if-none-match');
  if (inm !== undefined) {
    const weak = (t: string): string => t.trim().replace(/^W\//, '');
    return inm.trim() === '*' || inm.split(',').some((t) => weak(t) === weak(etag));
  }
  const ims = header(req, 'if-modified-since');
  if (ims === undefined) return false;
  const since = Date.parse(ims);
  return !Number.isNaN(since) && Math.floor(mtime.getTime() / 1000) * 1000 <= since;
}

/** A byte range that overlaps nothing in a file of `size` bytes (and no If-Range to say "ignore it"). */
function unsatisfiable(req: Req, size: number): boolean {
  const range = header(req, 'range');
  if (range === undefined || header(req, 'if-range') !== undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  return parseRange(size, range, { combine: false }) === -1;
}

/** GET or HEAD with nothing that asks `send` to decide: no validator, no range. */
function plainRequest(req: Req): boolean {
  const h = req.headers;
  return (
    (req.method === 'GET' || req.method === 'HEAD') &&
    h['range'] === undefined &&
    h['if-range'] === undefined &&
    h['if-match'] === undefined &&
    h['if-none-match'] === undefined &&
    h['if-modified-since'] === undefined &&
    h['if-unmodified-since'] === undefined
  );
}

function header(req: Req, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Encodings the client accepts (q > 0); `identity` and `*` do not name a sidecar. */
function acceptedEncodings(value: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const part of (value ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q !== undefined && !(Number(q.slice(2)) > 0)) continue;
    out.add(name);
  }
  return out;
}

/** Go's http.Redirect (Caddy's): a short HTML body for GET and HEAD. */
function redirect(res: Res, location: string, method: string | undefined): void {
  res.statusCode = 308;
  res.setHeader('location', location);
  if (method !== 'GET' && method !== 'HEAD') {
    res.end();
    return;
  }
  res.setHeader('content-type', 'text/html; charset=utf-8');
  if (method === 'HEAD') res.end();
  else res.end(`<a href="${escapeHtml(location)}">Permanent Redirect</a>.\n\n`);
}

/**
 * `send` streams the file; its own 404/403 paths never run since the file was found, but a read
 * error (the file vanished) ends in a 500 rather than a hung response.
 */
function sendWith(req: Req, res: Res, file: string, stats: Stats): Promise<void> {
  return new Promise((resolve) => {
    // send decodes the path it is given: encodeURI makes a literal `%` in a file name survive that.
    // highWaterMark: send hands its options to fs.createReadStream. 256 KiB reads rather than the
    // 64 KiB default for the range answers that still come here: 4 thread-pool trips per MiB, not 16.
    const stream = send(req as IncomingMessage, encodeURI(file), {
      dotfiles: 'allow',
      index: false,
      etag: true,
      lastModified: true,
      acceptRanges: true,
      cacheControl: false,
      highWaterMark: CHUNK_BYTES,
    } as send.SendOptions);
    // The file was stat'ed a moment ago to choose it: hand send that result rather than let its
    // sendFile stat it again (measured: one statx and one thread-pool round trip fewer per file,
    // see docs/design.md). pipe() still decodes and checks the path first; send(path, stat) is the
    // library's documented step after its own stat.
    stream.sendFile = (p: string): void => stream.send(p, stats);
    stream.on('error', (err: { status?: number }) => {
      if (!res.headersSent) {
        res.statusCode = err.status ?? 500;
        res.end();
      } else res.destroy?.();
      resolve();
    });
    stream.on('end', () => resolve());
    res.once('close', () => resolve());
    stream.pipe(res as ServerResponse);
  });
}

/**
 * php_fastcgi as Caddy expands it (fastcgi/caddyfile.go), run as one handler:
 *
 * 1. a directory holding the index script, asked for without its trailing `/`: 308 to the path
 *    with the slash (Caddy's canonical-path redirect);
 * 2. try_files `{path} {path}/index.php index.php`: the first that exists under the root (split
 *    at `.php` first, so `/index.php/a/b` checks `/index.php`), the last one taken anyway when it
 *    is a PHP file (Caddy's first_exist_fallback); the path is rewritten to it plus the part
 *    after the split;
 * 3. a path that names a PHP script (`*.php` or `*.php/*`) goes to FastCGI with the CGI/1.1
 *    environment (fastcgi/env.ts); any other path goes on to the next handler (file_server).
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ServerResponse } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { PhpFastcgiRoute } from '../../config/types.ts';
import { addressText, Exchange, FastCgiError, sharedPool, type FastCgiPool, type FcgiAddress } from '../../fastcgi/client.ts';
import { cgiEnv, firstSplit, sanitizedJoin } from '../../fastcgi/env.ts';
import type { CgiHead } from '../../fastcgi/cgi-response.ts';
import { expandPlaceholders, splitTarget, type Req, type Res } from '../context.ts';
import type { HandlerCompiler, UpgradableContext } from './types.ts';

/** Response headers that describe the FastCGI hop or are framing the server does itself. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection']);

export const phpFastcgi: HandlerCompiler<PhpFastcgiRoute> = (r, cx) => {
  const log = cx.log.child({ logger: 'php_fastcgi' });
  const pools = r.upstreams.map((u) => {
    const address: FcgiAddress = u.scheme === 'unix' ? { network: 'unix', path: u.path ?? '' } : { network: 'tcp', host: u.host, port: u.port };
    return sharedPool(address, { dialTimeoutMs: r.dialTimeoutMs });
  });
  let next = 0;
  const index = r.index;
  const defaultTry = r.tryFiles.length === 0;
  const tryFiles = index === false ? [] : defaultTry ? ['{http.request.uri.path}', `{http.request.uri.path}/${index}`, index] : r.tryFiles;
  // As Caddy: the last entry is taken without a check only when it is a PHP script (not `=404`).
  const fallback = index !== false && (defaultTry || (tryFiles.at(-1) ?? '').endsWith('.php'));
  const dirRedirect = index !== false && (defaultTry || r.tryFiles.some((f) => f === `{path}/${index}` || f === `{http.request.uri.path}/${index}`));
  const lowerSplit = r.split.map((s) => s.toLowerCase());

  const isScript = (p: string): boolean => {
    const lower = p.toLowerCase();
    return lowerSplit.some((ext) => lower.endsWith(ext) || lower.includes(`${ext}/`));
  };

  return {
    step: async (req, res, ctx) => {
      const rootVar = ctx.vars?.get('root');
      let root = path.resolve(expandPlaceholders(r.root ?? (typeof rootVar === 'string' ? rootVar : '.'), req, ctx));
      if (r.resolveRootSymlink) {
        try {
          root = await realpath(root);
        } catch (err) {
          log.error({ root, err: (err as Error).message }, 'php_fastcgi: cannot resolve the root');
          res.statusCode = 500;
          res.end();
          return true;
        }
      }

      if (dirRedirect && !ctx.path.endsWith('/') && (await isFile(sanitizedJoin(root, `${ctx.path}/${index as string}`)))) {
        const orig = splitTarget(req.url ?? '/');
        res.statusCode = 308;
        res.setHeader('location', `${orig.path}/${orig.query !== '' ? `?${orig.query}` : ''}`);
        res.end();
        return true;
      }

      for (let i = 0; i < tryFiles.length; i++) {
        const entry = tryFiles[i] as string;
        const code = /^=(\d{3})$/.exec(entry);
        if (code !== null) {
          res.statusCode = Number(code[1]);
          res.end();
          return true;
        }
        const expanded = expandPlaceholders(entry, req, ctx);
        const [splitPart, remainder] = firstSplit(goClean(expanded), r.split);
        let before = splitPart;
        if (entry.endsWith('/') && !before.endsWith('/')) before += '/';
        const full = sanitizedJoin(root, before);
        const last = i === tryFiles.length - 1;
        if ((last && fallback) || (await strictExists(full))) {
          let relative = full.startsWith(root) ? full.slice(root.length) : full;
          if (!relative.startsWith('/')) relative = `/${relative}`;
          const rewritten = relative + remainder;
          if (rewritten !== ctx.path) {
            ctx.path = rewritten;
            ctx.rewritten = true;
          }
          break;
        }
      }

      if (!isScript(ctx.path)) return false;
      await proxy(req, res, ctx, root);
      return true;
    },
  };

  async function proxy(req: Req, res: Res, ctx: UpgradableContext, root: string): Promise<void> {
    const env = cgiEnv(req, ctx, { root, split: r.split });
    for (const [k, v] of r.env) env.set(k, expandPlaceholders(v, req, ctx));
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    const h2Empty = req.httpVersionMajor === 2 && (req as Http2ServerRequest).stream.endAfterHeaders;
    const hasBody = !h2Empty && ((cl !== undefined && cl !== '0') || te !== undefined || req.httpVersionMajor === 2);
    let headSent = false;
    const sink = {
      head: (head: CgiHead) => {
        headSent = true;
        const grouped = new Map<string, string[]>();
        for (const [name, value] of head.headers) {
          const lower = name.toLowerCase();
          if (HOP_BY_HOP.has(lower)) continue;
          const list = grouped.get(lower);
          if (list) list.push(value);
          else grouped.set(lower, [value]);
        }
        res.statusCode = head.status;
        for (const [name, values] of grouped) res.setHeader(name, values.length === 1 ? (values[0] as string) : values);
      },
      // Both response kinds take a Buffer; the union's overloads just do not unify.
      write: (chunk: Buffer) => (res as ServerResponse).write(chunk),
      onDrain: (cb: () => void) => void res.once('drain', cb),
      end: () => void res.end(),
    };

    // A connection taken from the pool may have been closed by php-fpm since (pm.max_requests,
    // idle timeouts): a request with no body is tried once more on a fresh connection.
    for (let attempt = 0; ; attempt++) {
      const start = r.lbPolicy === 'first' ? 0 : r.lbPolicy === 'random' ? Math.floor(Math.random() * pools.length) : next++ % pools.length;
      let conn: Awaited<ReturnType<FastCgiPool['acquire']>> | undefined;
      let pool: FastCgiPool | undefined;
      let dialError: unknown;
      for (let k = 0; k < pools.length && conn === undefined; k++) {
        pool = pools[(start + k) % pools.length] as FastCgiPool;
        try {
          conn = await pool.acquire();
        } catch (err) {
          dialError = err;
          log.warn({ upstream: addressText(pool.address), err: (err as Error).message }, 'php_fastcgi: upstream unreachable');
        }
      }
      if (conn === undefined || pool === undefined) {
        log.error({ err: (dialError as Error | undefined)?.message }, 'php_fastcgi: no upstream available');
        res.statusCode = 502;
        res.end();
        return;
      }
      ctx.upstream = addressText(pool.address);
      const upstream = ctx.upstream;
      const exchange = new Exchange(
        conn.socket,
        {
          params: env,
          ...(hasBody ? { body: req } : {}),
          readTimeoutMs: r.readTimeoutMs,
          writeTimeoutMs: r.writeTimeoutMs,
          pool,
          ...(r.captureStderr ? { onStderr: (text: string) => log.warn({ upstream, stderr: text.trimEnd() }, 'php_fastcgi: stderr') } : {}),
        },
        sink,
      );
      const onClose = (): void => {
        if (!res.writableFinished) exchange.abort('the client went away');
      };
      res.once('close', onClose);
      try {
        const result = await exchange.done;
        res.off('close', onClose);
        if (result.reusable) pool.release(conn.socket);
        else conn.socket.destroy();
        return;
      } catch (err) {
        res.off('close', onClose);
        const e = err as FastCgiError;
        if (e.failure === 'closed' && conn.reused && !hasBody && !headSent && attempt === 0) continue;
        if (e.failure === 'aborted') {
          res.destroy();
          return;
        }
        log.error({ upstream, failure: e.failure, err: e.message }, 'php_fastcgi: request failed');
        if (headSent || res.headersSent) {
          // The status is on the wire: cutting the response is the only way to say it is incomplete.
          res.destroy();
          return;
        }
        res.statusCode = e.failure === 'timeout' ? 504 : 502;
        res.end();
        return;
      }
    }
  }
};

/** Go's path.Clean, which Caddy applies to each try_files entry: unlike normalize, it drops a trailing `/`. */
function goClean(p: string): string {
  const n = path.posix.normalize(p === '' ? '.' : p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Caddy's strictFileExists: a path ending in `/` must be a directory, any other must not be one. */
async function strictExists(p: string): Promise<boolean> {
  try {
    const st = await stat(p);
    return p.endsWith('/') ? st.isDirectory() : !st.isDirectory();
  } catch {
    return false;
  }
}

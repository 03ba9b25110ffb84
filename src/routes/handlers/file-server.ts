/** file_server: static files (files/serve.ts) under the route's root or the `root` variable. */
import type { FileServerRoute } from '../../config/types.ts';
import type { StaticFiles } from '../../files/serve.ts';
import { expandPlaceholders, splitTarget, type Req, type RequestContext, type Res } from '../context.ts';
import { HandlerError } from './errors.ts';
import type { HandlerCompiler } from './types.ts';

/**
 * files/serve.ts (with send, mime-types and range-parser, ~9 MiB resident) is loaded at the first
 * request a file_server answers, not by every config: most proxies never serve a file.
 */
let serveModule: Promise<typeof import('../../files/serve.ts')> | undefined;

export const fileServer: HandlerCompiler<FileServerRoute> = (r) => {
  let files: StaticFiles | undefined;
  const options = {
    hide: r.hide,
    index: r.index,
    browse: r.browse,
    ...(r.browseOptions !== undefined ? { browseOptions: r.browseOptions } : {}),
    precompressed: r.precompressed,
    ...(r.status !== undefined ? { status: r.status } : {}),
    canonicalUris: r.canonicalUris,
  };
  const serveWith = async (files: StaticFiles, req: Req, res: Res, ctx: RequestContext): Promise<boolean> => {
    const rootVar = ctx.vars?.get('root');
    const template = r.root ?? (typeof rootVar === 'string' ? rootVar : '.');
    // Most roots are literal paths: no placeholder pass for them on every request.
    const root = template.includes('{') ? expandPlaceholders(template, req, ctx) : template;
    // Redirects name the path the client asked for (Caddy: the original request), so they work
    // under handle_path and after a rewrite too.
    const publicPath = splitTarget(req.url ?? '/').path;
    if (await files.serve(req, res, root, ctx.path, publicPath, ctx.query)) return true;
    if (r.passThru) return false;
    // Caddy's file server returns a 404 error: handle_errors answers it, else an empty 404.
    throw new HandlerError(404);
  };
  return {
    step: (req, res, ctx) => {
      // Loaded once; later requests call straight through, without awaiting the import again.
      if (files !== undefined) return serveWith(files, req, res, ctx);
      return (serveModule ??= import('../../files/serve.ts')).then((m) => serveWith((files ??= new m.StaticFiles(options)), req, res, ctx));
    },
  };
};

/**
 * `try_files FILES… [{ policy first_exist|first_exist_fallback|smallest_size|largest_size|most_recently_modified }]`
 * as Caddy expands it (httpcaddyfile/builtins.go parseTryFiles): a `file` matcher over FILES and a
 * rewrite to the file it found (`{http.matchers.file.relative}`), the request's query kept. An
 * entry with its own query (`/index.php?{query}&p={path}`) gets a route of its own that rewrites
 * to that query; those routes exclude each other, so the first that finds a file wins. try_files
 * takes no matcher: a first argument starting with `/` is a file. FILES may be globs and `=CODE`
 * entries (`try_files {path} =404`), which the file matcher handles.
 */
import { configError, posOf } from '../errors.ts';
import type { RouteDraft } from '../draft.ts';
import type { Node } from '../parser.ts';
import type { FileRequestMatcher, RewriteRoute } from '../types.ts';
import { checkGlob, TRY_POLICIES, tryPolicyOf, unknownTryPolicy } from '../matchers/file.ts';
import { argsOf, noBlock, oneArg } from './helpers.ts';

export function parseTryFiles(node: Node): RouteDraft {
  const tokens = argsOf(node, 1, Infinity, 'try_files FILES… [{ policy POLICY }]');
  for (const t of tokens) checkGlob(t);
  const files = tokens.map((t) => t.text);
  let policy: FileRequestMatcher['tryPolicy'] = 'first_exist';
  let policySeen = false;
  for (const sub of node.block ?? []) {
    if (sub.name.text !== 'policy') throw configError(sub.name, `unknown subdirective "${sub.name.text}" in try_files`);
    noBlock(sub);
    // Caddy: "try policy already configured".
    if (policySeen) throw configError(sub.name, 'try_files: policy is already set');
    policySeen = true;
    const p = oneArg(sub, `policy ${TRY_POLICIES.join('|')}`);
    const known = tryPolicyOf(p.text);
    if (known === undefined) throw configError(p, `try_files: ${unknownTryPolicy(p.text)}`);
    policy = known;
  }
  const pos = posOf(node.name);
  const route = (tryFiles: string[], query: string): RewriteRoute => ({
    kind: 'rewrite',
    pos,
    matcher: { matchers: [{ type: 'file', tryFiles, tryPolicy: policy, splitPath: [] }], pos },
    uri: `{http.matchers.file.relative}${query}`,
  });
  const routes: RewriteRoute[] = [];
  let plain: string[] = [];
  for (const f of files) {
    const q = f.indexOf('?');
    if (q < 0) {
      plain.push(f);
      continue;
    }
    if (plain.length > 0) routes.push(route(plain, ''));
    plain = [];
    routes.push(route([f.slice(0, q)], f.slice(q)));
  }
  if (plain.length > 0) routes.push(route(plain, ''));
  if (routes.length === 1) return { ...(routes[0] as RewriteRoute), directive: 'try_files' };
  return { kind: 'route', directive: 'try_files', pos, routes };
}

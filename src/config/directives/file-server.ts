/**
 * `file_server` (Caddy's fileserver/caddyfile.go):
 *
 *     file_server [MATCHER] [browse] {
 *         root PATH
 *         hide GLOBS…
 *         index FILENAMES…
 *         browse [TEMPLATE] {
 *             sort name|namedirfirst|size|time [asc|desc]
 *             file_limit N
 *             reveal_symlinks
 *         }
 *         precompressed [br|zstd|gzip…]
 *         status CODE
 *         disable_canonical_uris
 *         pass_thru
 *     }
 *
 * Without `root` the files come from the `root` directive's value (the request variable), else
 * the working directory. Browse templates are Go templates: a template file is refused. The browse
 * block is Caddy 2.8's (2.6.2 takes `browse [TEMPLATE]` only, no block); each option is checked.
 */
import { configError, posOf } from '../errors.ts';
import type { Node } from '../parser.ts';
import type { BrowseOptions, FileServerRoute } from '../types.ts';
import { intArg } from '../values.ts';
import { argsOf, noBlock, Once, oneArg, splitMatcher, withArgs } from './helpers.ts';

const USAGE = 'file_server [MATCHER] [browse] { root; hide; index; browse; precompressed; status; disable_canonical_uris; pass_thru }';
const ENCODINGS = ['br', 'zstd', 'gzip'] as const;

export function parseFileServer(node: Node): FileServerRoute {
  const { matcher, args } = splitMatcher(node);
  const [mode] = argsOf(withArgs(node, args), 0, 1, USAGE);
  if (mode !== undefined && mode.text !== 'browse') throw configError(mode, `file_server: unexpected argument "${mode.text}" (usage: ${USAGE})`);
  let browse = mode !== undefined;
  let browseOptions: BrowseOptions | undefined;
  let root: string | undefined;
  let hide: string[] = [];
  let index = ['index.html', 'index.txt'];
  let precompressed: ('br' | 'zstd' | 'gzip')[] = [];
  let status: number | undefined;
  let canonicalUris = true;
  let passThru = false;
  const once = new Once();
  for (const sub of node.block ?? []) {
    once.check(sub);
    const name = sub.name.text;
    if (name !== 'browse' && sub.open !== undefined) throw configError(sub.open, `${name} does not take a block`);
    switch (name) {
      case 'root':
        root = oneArg(sub, 'root PATH').text;
        break;
      case 'hide':
        hide = argsOf(sub, 1, Infinity, 'hide GLOBS…').map((t) => t.text);
        break;
      case 'index':
        index = argsOf(sub, 1, Infinity, 'index FILENAMES…').map((t) => t.text);
        break;
      case 'browse': {
        const [template] = argsOf(sub, 0, 1, 'browse [TEMPLATE] [{ sort; file_limit; reveal_symlinks }]');
        if (template !== undefined) throw configError(template, 'file_server browse: templates are Go templates, which my-server does not run (see docs/caddy-migration.md)');
        if (sub.block !== undefined) browseOptions = parseBrowseBlock(sub.block);
        browse = true;
        break;
      }
      case 'precompressed': {
        const formats = argsOf(sub, 0, Infinity, 'precompressed [br|zstd|gzip…]');
        precompressed = [];
        for (const f of formats) {
          if (!(ENCODINGS as readonly string[]).includes(f.text)) throw configError(f, `precompressed: unsupported format "${f.text}" (use br, zstd or gzip)`);
          if (precompressed.includes(f.text as 'br')) throw configError(f, `precompressed: "${f.text}" is listed twice`);
          precompressed.push(f.text as 'br');
        }
        if (precompressed.length === 0) precompressed = [...ENCODINGS];
        break;
      }
      case 'status':
        status = intArg(oneArg(sub, 'status CODE'), 100, 999, 'status code');
        break;
      case 'disable_canonical_uris':
        argsOf(sub, 0, 0, 'disable_canonical_uris');
        canonicalUris = false;
        break;
      case 'pass_thru':
        argsOf(sub, 0, 0, 'pass_thru');
        passThru = true;
        break;
      case 'fs':
        throw configError(sub.name, 'file_server fs: virtual file systems are Go modules; my-server serves the local file system (see docs/caddy-migration.md)');
      default:
        throw configError(sub.name, `unknown subdirective "${name}" in file_server`);
    }
  }
  return {
    kind: 'file_server',
    pos: posOf(node.name),
    ...(matcher ? { matcher } : {}),
    ...(root !== undefined ? { root } : {}),
    hide,
    index,
    browse,
    ...(browseOptions !== undefined ? { browseOptions } : {}),
    precompressed,
    ...(status !== undefined ? { status } : {}),
    canonicalUris,
    passThru,
  };
}

const SORT_KEYS = ['name', 'namedirfirst', 'size', 'time'] as const;
const SORT_ORDERS = ['asc', 'desc'] as const;

/** The browse block's options, each once, each checked (Caddy 2.8 fileserver/caddyfile.go). */
function parseBrowseBlock(block: readonly Node[]): BrowseOptions {
  let sort: BrowseOptions['sort'] = 'namedirfirst';
  let order: BrowseOptions['order'] = 'asc';
  let fileLimit: number | undefined;
  let revealSymlinks = false;
  const once = new Once();
  for (const sub of block) {
    once.check(sub);
    noBlock(sub);
    switch (sub.name.text) {
      case 'sort': {
        const usage = `sort ${SORT_KEYS.join('|')} [asc|desc]`;
        const args = argsOf(sub, 1, 2, usage);
        for (const a of args) {
          // Caddy takes the key and the order in either position.
          if ((SORT_KEYS as readonly string[]).includes(a.text)) sort = a.text as BrowseOptions['sort'];
          else if ((SORT_ORDERS as readonly string[]).includes(a.text)) order = a.text as BrowseOptions['order'];
          else throw configError(a, `browse sort: unknown option "${a.text}" (usage: ${usage})`);
        }
        break;
      }
      case 'file_limit':
        fileLimit = intArg(oneArg(sub, 'file_limit N'), 1, 1_000_000_000, 'file_limit');
        break;
      case 'reveal_symlinks':
        argsOf(sub, 0, 0, 'reveal_symlinks');
        revealSymlinks = true;
        break;
      default:
        throw configError(sub.name, `unknown subdirective "${sub.name.text}" in file_server browse (sort, file_limit, reveal_symlinks)`);
    }
  }
  return { sort, order, ...(fileLimit !== undefined ? { fileLimit } : {}), revealSymlinks };
}

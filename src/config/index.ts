/**
 * The Proxyfile loader: text → tokens (lexer) → blocks (parser, imports, snippets) → drafts (one
 * parser per directive) → Config with defaults (adapt) → cross-field checks (validate).
 *
 * Errors are ConfigErrors whose message has one `FILE:LINE:COL: message` line per problem; syntax
 * errors stop at the first, directive and cross-field errors are all collected.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { adapt } from './adapt.ts';
import { parseGlobalOptions } from './directives/global-options.ts';
import { parseSite } from './directives/site.ts';
import type { SiteDraft } from './draft.ts';
import { configError, IssueCollector } from './errors.ts';
import { tokenize, type Env } from './lexer.ts';
import { buildTree, expandImports } from './parser.ts';
import type { Config, ConfigWarning, Pos } from './types.ts';
import { placeholderWarnings, validate } from './validate.ts';
import { loadCel } from './matchers/cel.ts';

export type * from './types.ts';
export { ConfigError, formatIssue, type ConfigIssue } from './errors.ts';
export { formatConfig } from './format.ts';
export { watchConfig, type ConfigWatcher, type WatchOptions } from './watch.ts';

export interface ParseOptions {
  /** Names the text in error messages; imports are resolved relative to its directory. */
  readonly filename: string;
  /** Values for `{$VAR}`; default: process.env. */
  readonly env?: Env;
  /** Reads an imported file; default: fs.readFile as UTF-8. */
  readonly readFile?: (file: string) => Promise<string>;
  /** Lists the regular files of a directory, for import globs; default: fs.readdir. */
  readonly listFiles?: (dir: string) => Promise<string[]>;
}

export async function parseConfig(text: string, options: ParseOptions): Promise<Config> {
  const files = [path.resolve(options.filename)];
  const env = options.env ?? process.env;
  const tokens = tokenize(text, options.filename, { env });
  const expanded = await expandImports(tokens, files[0] as string, {
    env,
    fs: { readFile: options.readFile ?? readUtf8, listFiles: options.listFiles ?? listRegularFiles },
    onFile: (file) => {
      if (!files.includes(file)) files.push(file);
    },
  });
  const tree = buildTree(expanded);
  // An expression matcher is `expression …` or a named matcher's one-token shorthand (`@name "CEL"`):
  // any named matcher may be one, so only configs with neither skip loading CEL.
  if (expanded.some((t) => t.text === 'expression' || t.text.startsWith('@'))) await loadCel();

  const issues = new IssueCollector();
  const globals = parseGlobalOptions(tree.globals?.body ?? [], issues);
  const drafts: SiteDraft[] = [];
  for (const block of tree.sites) drafts.push(parseSite(block, issues));
  issues.throwIfAny();

  const warnings = [...placeholderWarnings(tree), ...h3Warnings(globals.servers ?? [])];
  const config: Config = { ...adapt(globals, drafts, files), ...(warnings.length > 0 ? { warnings } : {}) };
  const onDemand = new Map<number, Pos>();
  drafts.forEach((d, i) => {
    if (d.tls?.onDemandPos !== undefined) onDemand.set(i, d.tls.onDemandPos);
  });
  validate(config, onDemand, issues);
  issues.throwIfAny();
  return deepFreeze(config);
}

/** `protocols h3` is accepted (a Caddyfile may ask for it) but cannot be served: say so where it is written. */
function h3Warnings(servers: readonly { readonly h3Pos?: Pos }[]): ConfigWarning[] {
  return servers.flatMap((s) =>
    s.h3Pos === undefined ? [] : [{ ...s.h3Pos, message: 'protocols h3: HTTP/3 is not served (Node.js has no QUIC server); HTTP/1.1 and HTTP/2 are' }],
  );
}

/** Reads and parses the Proxyfile at `file`; see parseConfig. */
export async function loadConfig(file: string, options: { env?: Env } = {}): Promise<Config> {
  let text: string;
  try {
    text = await readUtf8(file);
  } catch (err) {
    throw configError({ file, line: 1, col: 1 }, `reading config file: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(text, { filename: file, ...(options.env !== undefined ? { env: options.env } : {}) });
}

async function readUtf8(file: string): Promise<string> {
  return readFile(file, 'utf8');
}

async function listRegularFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

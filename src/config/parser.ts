/**
 * Tokens → blocks. Two steps, like the Caddyfile's parser:
 *
 * 1. `expandImports` splices `import` lines (at the start of any line) with the tokens of a snippet
 *    or of files matched by a path or glob (relative to the file holding the `import`), replacing
 *    `{args[N]}` / `{args[a:b]}` with the import's arguments, except inside the snippets an imported
 *    file defines: those are filled when the snippet is imported (Caddy ≥ 2.7). Snippets are
 *    top-level `(name) { … }` blocks and must be defined before they are imported. Cycles are errors.
 * 2. `buildTree` groups the flat tokens into an optional global options block and site blocks of
 *    nested nodes (a line = a node: name, arguments, and a `{ … }` block when the line ends in `{`).
 *
 * Braces follow the Caddyfile: `{` ends its line (or stands alone on the next one), `}` stands
 * alone on its line. Quoted braces are ordinary arguments.
 */
import path from 'node:path';
import { configError } from './errors.ts';
import { tokenize, type Env, type Token } from './lexer.ts';

export interface Node {
  readonly name: Token;
  readonly args: readonly Token[];
  /** Present when the node opens a block (possibly empty). */
  readonly block?: readonly Node[];
  /** The `{` that opened the block. */
  readonly open?: Token;
}

export interface SiteBlock {
  readonly keys: readonly Token[];
  readonly body: readonly Node[];
}

export interface Tree {
  readonly globals?: { readonly open: Token; readonly body: readonly Node[] } | undefined;
  readonly sites: readonly SiteBlock[];
}

export interface ImportFs {
  readFile(file: string): Promise<string>;
  /** Names of the regular files in `dir`. */
  listFiles(dir: string): Promise<string[]>;
}

export interface ExpandOptions {
  readonly env: Env;
  readonly fs: ImportFs;
  /** Receives the absolute path of every file read. */
  readonly onFile: (absolutePath: string) => void;
}

interface Item {
  readonly tok: Token;
  /** Import chain that produced the token: files (absolute) and `(snippet)` names, outermost first. */
  readonly chain: readonly string[];
}

/** How a chain node is named in messages: the file name as written (or joined), or `(snippet)`. */
type NodeNames = Map<string, string>;

/** Expansion budget: imports are cheap, but a snippet imported twice per level explodes exponentially. */
const MAX_TOKENS = 100_000;
const MAX_DEPTH = 64;

export function isBare(tok: Token | undefined, text: string): boolean {
  return tok !== undefined && tok.quote === '' && tok.text === text;
}

export async function expandImports(tokens: readonly Token[], rootFile: string, options: ExpandOptions): Promise<Token[]> {
  const stream = new ItemStream(tokens.map((tok) => ({ tok, chain: [rootFile] })));
  const snippets = new Map<string, readonly Token[]>();
  const names: NodeNames = new Map([[rootFile, tokens[0]?.file ?? rootFile]]);
  const out: Token[] = [];
  let budget = MAX_TOKENS;
  let depth = 0;
  for (let item = stream.next(); item !== undefined; item = stream.next()) {
    const { tok } = item;
    if (tok.newline && isBare(tok, 'import')) {
      const imported = await importLine([item, ...stream.restOfLine()], snippets, names, options);
      budget -= imported.length;
      if (budget < 0) throw configError(tok, 'imports expand to too many tokens');
      stream.push(imported);
      continue;
    }
    if (depth === 0 && tok.newline && tok.quote === '' && /^\(.*\)$/.test(tok.text)) {
      defineSnippet(tok, stream, snippets);
      continue;
    }
    if (isBare(tok, '{')) depth++;
    if (isBare(tok, '}')) depth--;
    out.push(tok);
  }
  return out;
}

/**
 * Tokens still to expand: a stack of frames, the top one being the most recent import. Reading
 * moves through the frames in order, so an import costs its own size, not a copy of the rest.
 */
class ItemStream {
  readonly #frames: { items: readonly Item[]; index: number }[] = [];

  constructor(items: readonly Item[]) {
    this.push(items);
  }

  push(items: readonly Item[]): void {
    if (items.length > 0) this.#frames.push({ items, index: 0 });
  }

  peek(): Item | undefined {
    for (;;) {
      const top = this.#frames.at(-1);
      if (top === undefined) return undefined;
      const item = top.items[top.index];
      if (item !== undefined) return item;
      this.#frames.pop();
    }
  }

  next(): Item | undefined {
    const item = this.peek();
    const top = this.#frames.at(-1);
    if (top !== undefined && item !== undefined) top.index++;
    return item;
  }

  /** The items after the current one on the same logical line. */
  restOfLine(): Item[] {
    const rest: Item[] = [];
    for (let item = this.peek(); item !== undefined && !item.tok.newline; item = this.peek()) rest.push(this.next() as Item);
    return rest;
  }
}

/** Records `(name) { … }` whose head was just read, consuming it through its closing brace. */
function defineSnippet(head: Token, stream: ItemStream, snippets: Map<string, readonly Token[]>): void {
  const name = head.text.slice(1, -1);
  // `{` ends the head's line or stands alone on the next one.
  const open = stream.next()?.tok;
  const after = stream.peek()?.tok;
  if (open === undefined || !isBare(open, '{') || !(after === undefined || after.newline)) {
    throw configError(head, `snippet ${head.text} must be followed by a block { … }`);
  }
  if (snippets.has(name)) throw configError(head, `snippet ${head.text} is already defined`);
  let nesting = 1;
  const body: Token[] = [];
  for (let item = stream.next(); item !== undefined; item = stream.next()) {
    const { tok } = item;
    if (isBare(tok, '{')) nesting++;
    if (isBare(tok, '}') && --nesting === 0) {
      snippets.set(name, body);
      return;
    }
    body.push(tok);
  }
  throw configError(open, `unclosed '{' of snippet ${head.text}: expected '}' before the end of the file`);
}

async function importLine(
  line: readonly Item[],
  snippets: ReadonlyMap<string, readonly Token[]>,
  names: NodeNames,
  options: ExpandOptions,
): Promise<Item[]> {
  const [head, patternItem, ...argItems] = line as [Item, ...Item[]];
  const pattern = patternItem?.tok;
  if (pattern === undefined || pattern.text === '') throw configError(head.tok, 'import needs a snippet name or a file path');
  const args = argItems.map((a) => a.tok);
  const last = args.at(-1);
  if (isBare(last, '{')) throw configError(last as Token, 'import does not take a block');
  if (head.chain.length > MAX_DEPTH) throw configError(head.tok, 'imports nested too deeply');

  const sources: { node: string; tokens: readonly Token[] }[] = [];
  const snippet = snippets.get(pattern.text);
  if (snippet !== undefined) {
    sources.push({ node: `(${pattern.text})`, tokens: snippet });
  } else {
    for (const file of await resolveImport(pattern, options.fs)) {
      const absolute = path.resolve(file);
      names.set(absolute, file);
      let text: string;
      if (head.chain.includes(absolute)) throw cycle(pattern, [...head.chain, absolute], names);
      try {
        text = await options.fs.readFile(file);
      } catch (err) {
        const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
        throw configError(pattern, `import ${file}: ${why}`, { cause: err });
      }
      options.onFile(absolute);
      sources.push({ node: absolute, tokens: tokenize(text, file, { env: options.env }) });
    }
  }

  const out: Item[] = [];
  for (const source of sources) {
    if (head.chain.includes(source.node)) throw cycle(pattern, [...head.chain, source.node], names);
    const chain = [...head.chain, source.node];
    // Snippets an imported file defines keep their {args[N]} for their own imports (Caddy ≥ 2.7).
    const inSnippet = snippet === undefined ? snippetBodies(source.tokens) : undefined;
    // The first imported token starts a line, and so does whatever follows a line-leading
    // `{args[:]}` that expanded to nothing.
    let startsLine = true;
    for (const [index, tok] of source.tokens.entries()) {
      const replaced = inSnippet?.[index] === true ? [tok] : substituteArgs(tok, args, pattern);
      if (replaced.length === 0) {
        startsLine ||= tok.newline;
        continue;
      }
      for (const [k, r] of replaced.entries()) out.push({ tok: k === 0 && startsLine ? { ...r, newline: true } : r, chain });
      startsLine = false;
    }
  }
  return out;
}

/**
 * Which tokens of a file lie inside a top-level `(name) { … }` snippet definition, head and braces
 * included. Caddy's doImport tells them the same way: a line-leading `(name)` at depth 0 whose
 * `{` opens the block.
 */
function snippetBodies(tokens: readonly Token[]): boolean[] {
  const inside = new Array<boolean>(tokens.length).fill(false);
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as Token;
    const next = tokens[i + 1];
    if (depth === 0 && tok.newline && tok.quote === '' && /^\(.+\)$/.test(tok.text) && isBare(next, '{')) {
      let nesting = 0;
      let j = i + 1;
      for (; j < tokens.length; j++) {
        const t = tokens[j] as Token;
        if (isBare(t, '{')) nesting++;
        if (isBare(t, '}') && --nesting === 0) break;
      }
      for (let k = i; k <= j && k < tokens.length; k++) inside[k] = true;
      i = j;
      continue;
    }
    if (isBare(tok, '{')) depth++;
    if (isBare(tok, '}')) depth--;
  }
  return inside;
}

function cycle(at: Token, chain: readonly string[], names: NodeNames): Error {
  return configError(at, `import cycle: ${chain.map((node) => names.get(node) ?? node).join(' -> ')}`);
}

/** Files named by an import pattern: a path, or a glob with `*`/`?` in its last segment. */
async function resolveImport(pattern: Token, fs: ImportFs): Promise<string[]> {
  const target = path.isAbsolute(pattern.text) ? pattern.text : path.join(path.dirname(pattern.file), pattern.text);
  const dir = path.dirname(target);
  const base = path.basename(target);
  if (/[*?[\]]/.test(dir)) throw configError(pattern, 'import globs may only use wildcards in the last path segment');
  if (!/[*?]/.test(base)) return [target];
  if (/[[\]]/.test(base)) throw configError(pattern, 'import globs support only * and ?');
  const re = new RegExp(`^${base.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  let names: string[];
  try {
    names = await fs.listFiles(dir);
  } catch (err) {
    // A glob matching nothing is not an error in the Caddyfile, a missing directory included.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw configError(pattern, `listing ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return names
    .filter((name) => re.test(name) && (base.startsWith('.') || !name.startsWith('.')))
    .sort()
    .map((name) => path.join(dir, name));
}

const VARIADIC = /^\{args\[(\d*):(\d*)\]\}$/;
const ARG = /\{args\[(\d+)\]\}|\{args\.(\d+)\}/g;

/** `{args[a:b]}` as a whole bare token becomes those arguments; `{args[N]}` is replaced in text. */
function substituteArgs(tok: Token, args: readonly Token[], at: Token): Token[] {
  const variadic = tok.quote === '' ? VARIADIC.exec(tok.text) : null;
  if (variadic !== null) {
    const from = variadic[1] === '' ? 0 : Number(variadic[1]);
    const to = variadic[2] === '' ? args.length : Number(variadic[2]);
    if (from > to || to > args.length) {
      throw configError(tok, `${tok.text} is out of range: import at ${at.file}:${at.line} passes ${args.length} argument(s)`);
    }
    return args.slice(from, to).map((arg, k) => ({ ...tok, text: arg.text, quote: arg.quote, newline: tok.newline && k === 0 }));
  }
  if (!tok.text.includes('{args')) return [tok];
  const text = tok.text.replace(ARG, (match, a: string | undefined, b: string | undefined) => {
    const index = Number(a ?? b);
    const arg = args[index];
    if (arg === undefined) {
      throw configError(tok, `${match} is out of range: import at ${at.file}:${at.line} passes ${args.length} argument(s)`);
    }
    return arg.text;
  });
  return [{ ...tok, text }];
}

/** Groups expanded tokens into the global options block and site blocks. */
export function buildTree(tokens: readonly Token[]): Tree {
  const lines = splitLines(tokens);
  let idx = 0;
  let globals: Tree['globals'];
  const first = lines[0];
  if (first !== undefined && first.length === 1 && isBare(first[0], '{')) {
    const open = first[0] as Token;
    const parsed = parseBody(lines, 1, open, 0);
    globals = { open, body: parsed.nodes };
    idx = parsed.next;
  }
  const sites: SiteBlock[] = [];
  while (idx < lines.length) {
    const line = lines[idx] as Token[];
    const head = line[0] as Token;
    if (isBare(head, '{')) throw configError(head, 'the global options block must be the first block in the file');
    if (isBare(head, '}')) throw configError(head, "unexpected '}': no block is open");
    const keys: Token[] = [];
    let open: Token | undefined;
    for (;;) {
      const current = lines[idx] as Token[];
      idx++;
      for (const [k, tok] of current.entries()) {
        if (isBare(tok, '{')) {
          if (k !== current.length - 1) throw configError(tok, "'{' must be the last token on its line");
          open = tok;
        } else if (isBare(tok, '}')) {
          throw configError(tok, "'}' must be on a line of its own");
        } else if (tok.quote === '' && tok.text.endsWith('{')) {
          throw configError(tok, `site address "${tok.text}" ends with '{': put a space before the brace`);
        } else {
          keys.push(tok);
        }
      }
      const lastKey = keys.at(-1);
      if (open !== undefined || lastKey === undefined || !lastKey.text.endsWith(',') || idx >= lines.length) break;
    }
    const next = lines[idx];
    if (open === undefined && next !== undefined && next.length === 1 && isBare(next[0], '{')) {
      open = next[0];
      idx++;
    }
    if (open === undefined) {
      // One site may omit its braces; its directives then run to the end of the file.
      const parsed = parseBody(lines, idx, undefined, 0);
      sites.push({ keys, body: parsed.nodes });
      idx = parsed.next;
    } else {
      const parsed = parseBody(lines, idx, open, 0);
      sites.push({ keys, body: parsed.nodes });
      idx = parsed.next;
    }
  }
  return { globals, sites };
}

function splitLines(tokens: readonly Token[]): Token[][] {
  const lines: Token[][] = [];
  for (const tok of tokens) {
    const last = lines.at(-1);
    if (tok.newline || last === undefined) lines.push([tok]);
    else last.push(tok);
  }
  return lines;
}

const MAX_NESTING = 32;

function parseBody(lines: readonly Token[][], start: number, open: Token | undefined, depth: number): { nodes: Node[]; next: number } {
  if (depth > MAX_NESTING && open !== undefined) throw configError(open, 'blocks are nested too deeply');
  const nodes: Node[] = [];
  let idx = start;
  while (idx < lines.length) {
    const line = lines[idx] as Token[];
    const head = line[0] as Token;
    if (isBare(head, '}')) {
      const extra = line[1];
      if (extra !== undefined) throw configError(extra, "unexpected token after '}': a closing brace must be on a line of its own");
      if (open === undefined) throw configError(head, "unexpected '}': no block is open");
      return { nodes, next: idx + 1 };
    }
    if (isBare(head, '{')) {
      const prev = nodes.at(-1);
      if (line.length !== 1 || prev === undefined || prev.block !== undefined) throw configError(head, "unexpected '{'");
      // `{` alone on the line after a directive opens that directive's block.
      const child = parseBody(lines, idx + 1, head, depth + 1);
      nodes[nodes.length - 1] = { ...prev, block: child.nodes, open: head };
      idx = child.next;
      continue;
    }
    for (const [k, tok] of line.entries()) {
      if (k > 0 && isBare(tok, '}')) throw configError(tok, "'}' must be on a line of its own");
      if (isBare(tok, '{') && k !== line.length - 1) throw configError(tok, "'{' must be the last token on its line");
    }
    const last = line.at(-1) as Token;
    if (line.length > 1 && isBare(last, '{')) {
      const child = parseBody(lines, idx + 1, last, depth + 1);
      nodes.push({ name: head, args: line.slice(1, -1), block: child.nodes, open: last });
      idx = child.next;
    } else {
      nodes.push({ name: head, args: line.slice(1) });
      idx++;
    }
  }
  if (open !== undefined) throw configError(open, "unclosed '{': expected '}' before the end of the file");
  return { nodes, next: idx };
}

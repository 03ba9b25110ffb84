/**
 * Directives that set request variables (Caddy's vars.go, map/caddyfile.go, builtins.go parseRoot
 * and parseLogSkip):
 *
 *     vars [MATCHER] NAME VALUE | vars [MATCHER] { NAME VALUE … }
 *     log_skip [MATCHER]          (skip_log: the older name)
 *     root [MATCHER] PATH         (one argument is the path, even when it starts with /)
 *     map [MATCHER] SOURCE DEST… {
 *         [~]INPUT OUTPUT…        (~: INPUT is a regexp; OUTPUT may use its $1, ${name})
 *         default OUTPUT…
 *     }
 *
 * A map DEST names a placeholder, with or without braces (`{backend}`); an OUTPUT of `-` gives that
 * destination nothing on this row (a later row or the default may). Values and outputs may hold
 * placeholders, expanded per request.
 */
import { configError, posOf } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { MapRoute, MapRow, MatcherSet, VarsRoute } from '../types.ts';
import { argsOf, headerOpLine, noBlock, splitMatcher, withArgs } from './helpers.ts';

export function parseVars(node: Node): VarsRoute {
  const usage = 'vars [MATCHER] NAME VALUE | vars [MATCHER] { NAME VALUE … }';
  const { matcher, args } = splitMatcher(node);
  const vars: [string, string][] = [];
  if (args.length > 0) {
    const [name, value] = argsOf(withArgs(node, args), 1, 2, usage) as [Token, Token | undefined];
    vars.push([name.text, value?.text ?? '']);
  }
  for (const sub of node.block ?? []) {
    noBlock(sub);
    const [value] = argsOf(sub, 0, 1, 'NAME VALUE');
    vars.push([sub.name.text, value?.text ?? '']);
  }
  if (vars.length === 0) throw configError(node.name, `vars: missing argument (usage: ${usage})`);
  return { kind: 'vars', pos: posOf(node.name), ...(matcher ? { matcher } : {}), vars };
}

export function parseLogSkip(node: Node): VarsRoute {
  noBlock(node);
  const { matcher, args } = splitMatcher(node);
  argsOf(withArgs(node, args), 0, 0, `${node.name.text} [MATCHER]`);
  const directive = node.name.text === 'skip_log' ? 'skip_log' : 'log_skip';
  return { kind: 'vars', directive, pos: posOf(node.name), ...(matcher ? { matcher } : {}), vars: [['log_skip', true]] };
}

export function parseRoot(node: Node): VarsRoute {
  noBlock(node);
  const usage = 'root [MATCHER] PATH';
  let matcher: MatcherSet | undefined;
  let path: Token;
  if (node.args.length === 1) path = node.args[0] as Token;
  else {
    const split = splitMatcher(node);
    matcher = split.matcher;
    path = argsOf(withArgs(node, split.args), 1, 1, usage)[0] as Token;
  }
  return { kind: 'vars', directive: 'root', pos: posOf(node.name), ...(matcher ? { matcher } : {}), vars: [['root', path.text]] };
}

export function parseMap(node: Node): MapRoute {
  const usage = 'map [MATCHER] SOURCE DEST… { [~]INPUT OUTPUT…; default OUTPUT… }';
  const { matcher, args } = splitMatcher(node);
  const [source, ...dests] = argsOf(withArgs(node, args), 2, Infinity, usage) as [Token, ...Token[]];
  const destinations = dests.map((d) => {
    const name = d.text.startsWith('{') && d.text.endsWith('}') ? d.text.slice(1, -1) : d.text;
    if (name === '' || /[{}]/.test(name)) throw configError(d, `map: invalid destination "${d.text}" (a placeholder name such as backend or {backend})`);
    return name;
  });
  const rows: MapRow[] = [];
  let defaults: (string | undefined)[] | undefined;
  const seen = new Set<string>();
  for (const sub of node.block ?? []) {
    noBlock(sub);
    const outputs = sub.args.map((t) => (t.text === '-' ? undefined : t.text));
    if (outputs.length !== destinations.length) {
      throw configError(sub.name, `map: ${outputs.length} outputs for ${destinations.length} destinations (one per destination; - for none)`);
    }
    if (sub.name.text === 'default') {
      if (defaults !== undefined) throw configError(sub.name, 'map: default is already set');
      defaults = outputs;
      continue;
    }
    if (seen.has(sub.name.text)) throw configError(sub.name, `map: duplicate input "${sub.name.text}"`);
    seen.add(sub.name.text);
    if (sub.name.text.startsWith('~')) {
      const re = { ...sub.name, text: sub.name.text.slice(1) };
      // The header replace grammar translates Go's regexp syntax; outputs may use its captures.
      const { op } = headerOpLine({ name: node.name, args: [{ ...re, text: 'X' }, re, { ...re, text: '' }] }, usage, false);
      rows.push({
        input: re.text,
        regexp: { source: op.search ?? '', flags: op.searchFlags ?? '' },
        outputs: outputs.map((o) => (o === undefined ? undefined : goTemplate(o))),
      });
    } else {
      rows.push({ input: sub.name.text, outputs });
    }
  }
  return {
    kind: 'map',
    pos: posOf(node.name),
    ...(matcher ? { matcher } : {}),
    source: source.text,
    destinations,
    rows,
    defaults: defaults ?? destinations.map(() => undefined),
  };
}

/** Go's Regexp.Expand template in JS `replace` syntax: `${1}` → `$1`, `${name}` → `$<name>`. */
function goTemplate(text: string): string {
  return text.replace(/\$\{(\w+)\}/g, (_m, g: string) => (/^\d+$/.test(g) ? `$${g}` : `$<${g}>`));
}

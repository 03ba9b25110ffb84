/**
 * Cross-field checks on an adapted Config, all reported in one pass:
 * - on-demand sites need the global `on_demand_tls { ask URL }` policy;
 * - catch-all HTTPS addresses (`https://`, `:443`) need `tls { on_demand }`;
 * - a site address appears once (by protocol, host and port);
 * - a written scheme agrees with the port (`http://x:443`, `https://x:80` are contradictions);
 * - `http_port` and `https_port` differ;
 * - a public wildcard served by ACME has a DNS provider (directives/dns.ts).
 * Single values (ports 1-65535, durations, URLs) were checked where they were parsed.
 */
import { isKnownPlaceholder, placeholdersIn } from '../util/placeholders.ts';
import { issuerFor } from './adapt.ts';
import { wildcardWithoutProvider } from './directives/dns.ts';
import { configError, type ConfigIssue, type IssueCollector } from './errors.ts';
import type { Token } from './lexer.ts';
import type { Node, Tree } from './parser.ts';
import type { Config, Pos } from './types.ts';

export function validate(config: Config, onDemandPositions: ReadonlyMap<number, Pos>, issues: IssueCollector): void {
  const g = config.globals;
  if (g.httpPort === g.httpsPort) {
    const at = g.sources.https_port ?? g.sources.http_port;
    if (at !== undefined) issues.add(configError(at, `http_port and https_port are both ${g.httpPort}`));
  }

  const seen = new Map<string, Pos>();
  config.sites.forEach((site, index) => {
    const onDemandPos = onDemandPositions.get(index);
    if (site.tls.onDemand && g.onDemandTls?.ask === undefined && onDemandPos !== undefined) {
      issues.add(configError(onDemandPos, 'on-demand TLS needs the global option on_demand_tls { ask URL }'));
    }
    for (const address of site.addresses) {
      if (address.scheme === 'http' && address.port === g.httpsPort) {
        issues.add(configError(address.pos, `site address "${address.original}" uses http:// with the HTTPS port ${g.httpsPort}`));
      }
      if (address.scheme === 'https' && address.port === g.httpPort) {
        issues.add(configError(address.pos, `site address "${address.original}" uses https:// with the HTTP port ${g.httpPort}`));
      }
      if (address.host === '' && address.protocol === 'https' && !site.tls.onDemand) {
        issues.add(
          configError(address.pos, `site address "${address.original}" serves any name over HTTPS and needs tls { on_demand }`),
        );
      }
      const wildcard = wildcardWithoutProvider(site, address, g, issuerFor(site, g, address.host)?.kind === 'acme');
      if (wildcard !== undefined) issues.add(wildcard);
      const key = `${address.protocol}://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.listenPort}`;
      const prev = seen.get(key);
      if (prev !== undefined) {
        issues.add(
          configError(address.pos, `duplicate site address "${address.original}" (also at ${prev.file}:${prev.line}:${prev.col})`),
        );
      } else {
        seen.set(key, address.pos);
      }
    }
  });
}

/**
 * `validate`'s and the start's warnings for placeholders my-server does not know, at the
 * placeholder's FILE:LINE:COL. Caddy keeps an unknown placeholder as
 * written and says nothing; we keep it too, but say so, because it is usually a typo or a name from
 * another server (`{tls_protocol}`, `{proto}`).
 *
 * Only site blocks are read. Braces that are not placeholders are not flagged: regexp quantifiers
 * (`{0,64}`), JSON (`{"a": 1}`), anything with spaces, quotes or commas (placeholdersIn). A `map`'s
 * destinations are names the config defines, known everywhere; its block (input patterns and
 * output values) is not read.
 */
/** Directives whose arguments may hold a regexp replacement, where `${1}` names a group. */
const REGEXP_REPLACEMENTS: ReadonlySet<string> = new Set(['uri', 'header', 'request_header', 'header_up', 'header_down']);

export function placeholderWarnings(tree: Tree): ConfigIssue[] {
  const defined = new Set<string>();
  const visit = (nodes: readonly Node[], fn: (node: Node) => void): void => {
    for (const node of nodes) {
      fn(node);
      if (node.block !== undefined && node.name.text !== 'map') visit(node.block, fn);
    }
  };
  for (const site of tree.sites) {
    visit(site.body, (node) => {
      if (node.name.text !== 'map') return;
      for (const dest of node.args.slice(1)) {
        const m = /^\{(.+)\}$/.exec(dest.text);
        if (m !== null) defined.add(m[1]!);
      }
    });
  }
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  const check = (tok: Token, regexpGroups = false): void => {
    if (!tok.text.includes('{')) return;
    for (const { name, offset } of placeholdersIn(tok.text, regexpGroups)) {
      if (isKnownPlaceholder(name, defined)) continue;
      const at = positionIn(tok, offset);
      const key = `${at.file}:${at.line}:${at.col}`;
      if (seen.has(key)) continue;
      seen.add(key);
      issues.push({ ...at, message: `unknown placeholder {${name}} (left as written, as Caddy does)` });
    }
  };
  for (const site of tree.sites) {
    visit(site.body, (node) => {
      if (node.name.text === 'map') {
        check(node.args[0] ?? node.name);
        return;
      }
      check(node.name);
      const groups = REGEXP_REPLACEMENTS.has(node.name.text);
      for (const arg of node.args) check(arg, groups);
    });
  }
  return issues;
}

/**
 * Where character `offset` of a token's text sits in its file: quotes move it one column, a
 * heredoc's text starts on the line after `<<` with its indentation removed. Escapes before the
 * offset (`\"`) are not counted back in.
 */
function positionIn(tok: Token, offset: number): Pos {
  if (tok.quote !== '<') return { file: tok.file, line: tok.line, col: tok.col + offset + (tok.quote === '' ? 0 : 1) };
  const before = tok.text.slice(0, offset);
  const lineStart = before.lastIndexOf('\n') + 1;
  let lines = 0;
  for (let i = before.indexOf('\n'); i >= 0; i = before.indexOf('\n', i + 1)) lines++;
  return { file: tok.file, line: tok.line + 1 + lines, col: (tok.indent ?? 0) + offset - lineStart + 1 };
}

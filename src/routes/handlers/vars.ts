/** vars (also log_skip and root): request variables; map: placeholder values; for the handlers, matchers and logs after them. */
import type { MapRoute, VarsRoute } from '../../config/types.ts';
import { compileTemplate } from '../../util/placeholders.ts';
import { setValue, setVar } from '../context.ts';
import type { HandlerCompiler } from './types.ts';

export const vars: HandlerCompiler<VarsRoute> = (r) => {
  const entries = r.vars.map(([name, value]) => ({ name, value, expand: typeof value === 'string' ? compileTemplate(value) : undefined }));
  return {
    step: (req, _res, ctx) => {
      for (const { name, value, expand } of entries) setVar(ctx, name, expand !== undefined ? expand(req, ctx) : value);
      return false;
    },
  };
};

/**
 * Caddy's map (map.go): each destination on its own: the first row that has an output for it
 * (not `-`) and whose input equals SOURCE's value (or whose regexp matches it) gives it; rows
 * after it are not tried. A regexp row's output is its template expanded with the captures of the
 * first match (Go's ExpandString over FindStringSubmatchIndex: Caddy 2.6.2 maps `/zz` through
 * `~(z) z$1` to `zz`), and nothing else: Caddy 2.6.2 leaves placeholders in it as written, and a
 * capture (request data) is never read as a placeholder. An exact row's output and a default are
 * expanded. No such row: the default, if any. The outputs are placeholders named after
 * the destinations (`{backend}`), not variables: Caddy 2.6.2 answers `{vars.backend}` empty. They
 * are stored as placeholder values (ctx.values). Caddy computes them lazily when read; here when
 * the route runs, which gives the same values as long as SOURCE does not change later in the chain.
 *
 * Every template and regexp is compiled here, once; per request each row is tried at most once,
 * in order, and only until every destination has its value.
 */
export const map: HandlerCompiler<MapRoute> = (r) => {
  const source = compileTemplate(r.source, 'empty');
  const rows = r.rows.map((row) => ({
    input: row.input,
    re: row.regexp && new RegExp(row.regexp.source, row.regexp.flags.replaceAll('g', '')),
    outputs: row.outputs.map((o) => (o === undefined ? undefined : { text: o, expand: compileTemplate(o) })),
  }));
  const defaults = r.defaults.map((d) => (d === undefined ? undefined : compileTemplate(d)));
  const count = r.destinations.length;
  return {
    step: (req, _res, ctx) => {
      const input = source(req, ctx);
      const out: (string | undefined)[] = new Array<string | undefined>(count);
      let left = count;
      for (const row of rows) {
        if (left === 0) break;
        if (!row.outputs.some((o, i) => o !== undefined && out[i] === undefined)) continue;
        let m: RegExpExecArray | null = null;
        if (row.re !== undefined) {
          m = row.re.exec(input);
          if (m === null) continue;
        } else if (row.input !== input) continue;
        row.outputs.forEach((o, i) => {
          if (o === undefined || out[i] !== undefined) return;
          out[i] = m === null ? o.expand(req, ctx) : expandMatch(m, o.text);
          left--;
        });
      }
      for (let i = 0; i < count; i++) {
        const value = out[i] ?? defaults[i]?.(req, ctx);
        if (value !== undefined) setValue(ctx, r.destinations[i] as string, value);
      }
      return false;
    },
  };
};

/** `template` (JS replacement syntax: `$1`, `$<name>`, `$&`, `$$`) expanded with one match. */
function expandMatch(m: RegExpExecArray, template: string): string {
  if (!template.includes('$')) return template;
  return template.replace(/\$(\$|&|<([^>]*)>|(\d{1,2}))/g, (whole, what: string, name: string | undefined, index: string | undefined) => {
    if (what === '$') return '$';
    if (what === '&') return m[0];
    if (name !== undefined) return m.groups?.[name] ?? '';
    const n = Number(index);
    return n < m.length ? (m[n] ?? '') : whole;
  });
}

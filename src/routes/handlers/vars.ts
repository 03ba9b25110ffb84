/** vars (also log_skip and root): request variables; map: placeholder values; for the handlers, matchers and logs after them. */
import type { MapRoute, VarsRoute } from '../../config/types.ts';
import { expandPlaceholders, setValue, setVar } from '../context.ts';
import type { HandlerCompiler } from './types.ts';

export const vars: HandlerCompiler<VarsRoute> = (r) => ({
  step: (req, _res, ctx) => {
    for (const [name, value] of r.vars) setVar(ctx, name, typeof value === 'string' ? expandPlaceholders(value, req, ctx) : value);
    return false;
  },
});

/**
 * Caddy's map (map.go): each destination on its own: the first row whose input equals SOURCE's
 * value (or whose regexp matches it) and that has an output for that destination (not `-`) gives
 * it; a regexp row's output is its template expanded with each match's captures and the results
 * joined, as Go's Regexp.ExpandString over FindAllStringSubmatchIndex (`~^/docs/ docs` maps
 * `/docs/a` to `docs`, checked with Caddy 2.6.2);
 * no such row: the default, if any. The outputs are placeholders named after the destinations
 * (`{backend}`), not variables: Caddy 2.6.2 answers `{vars.backend}` empty. They are stored as
 * placeholder values (ctx.values). Caddy computes them lazily when read; here when the route
 * runs, which gives the same values as long as SOURCE does not change later in the chain.
 */
export const map: HandlerCompiler<MapRoute> = (r) => {
  const rows = r.rows.map((row) => ({ ...row, re: row.regexp && new RegExp(row.regexp.source, `${row.regexp.flags}g`) }));
  return {
    step: (req, _res, ctx) => {
      const input = expandPlaceholders(r.source, req, ctx);
      const matching = rows.filter((row) => (row.re !== undefined ? testFrom0(row.re, input) : row.input === input));
      r.destinations.forEach((dest, i) => {
        let out: string | undefined;
        for (const row of matching) {
          const o = row.outputs[i];
          if (o === undefined) continue;
          out = row.re !== undefined ? expandAll(row.re, input, o) : o;
          break;
        }
        out ??= r.defaults[i];
        if (out !== undefined) setValue(ctx, dest, expandPlaceholders(out, req, ctx));
      });
      return false;
    },
  };
};

/** Each match's expansion of `template` (JS replacement syntax: `$1`, `$<name>`, `$&`, `$$`), joined. */
function expandAll(re: RegExp, input: string, template: string): string {
  let out = '';
  re.lastIndex = 0;
  for (const m of input.matchAll(re)) {
    out += template.replace(/\$(\$|&|<([^>]*)>|(\d{1,2}))/g, (whole, what: string, name: string | undefined, index: string | undefined) => {
      if (what === '$') return '$';
      if (what === '&') return m[0];
      if (name !== undefined) return m.groups?.[name] ?? '';
      const n = Number(index);
      return n < m.length ? (m[n] ?? '') : whole;
    });
  }
  return out;
}

function testFrom0(re: RegExp, input: string): boolean {
  re.lastIndex = 0;
  return re.test(input);
}

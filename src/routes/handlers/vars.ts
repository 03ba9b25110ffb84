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
 * it; a regexp row's output expands its captures over the input as Go's ReplaceAllString does;
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
          out = row.re !== undefined ? input.replace(row.re, o) : o;
          break;
        }
        out ??= r.defaults[i];
        if (out !== undefined) setValue(ctx, dest, expandPlaceholders(out, req, ctx));
      });
      return false;
    },
  };
};

function testFrom0(re: RegExp, input: string): boolean {
  re.lastIndex = 0;
  return re.test(input);
}

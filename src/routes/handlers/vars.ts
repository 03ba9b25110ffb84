/** vars (also log_skip and root), map: request variables for the handlers, matchers and logs after them. */
import type { MapRoute, VarsRoute } from '../../config/types.ts';
import { expandPlaceholders, setVar } from '../context.ts';
import type { HandlerCompiler } from './types.ts';

export const vars: HandlerCompiler<VarsRoute> = (r) => ({
  step: (req, _res, ctx) => {
    for (const [name, value] of r.vars) setVar(ctx, name, typeof value === 'string' ? expandPlaceholders(value, req, ctx) : value);
    return false;
  },
});

/**
 * Caddy's map: SOURCE's value against each row in order; the first equal input (or matching
 * regexp) gives the outputs, a regexp row's outputs expanding its captures over the input as Go's
 * ReplaceAllString does; no row: the defaults. An output left out (`-`, or no default) sets
 * nothing. Caddy evaluates lazily when a placeholder is read; here the row is chosen when the
 * route runs, which gives the same values as long as SOURCE does not change later in the chain.
 */
export const map: HandlerCompiler<MapRoute> = (r) => {
  const rows = r.rows.map((row) => ({ ...row, re: row.regexp && new RegExp(row.regexp.source, `${row.regexp.flags}g`) }));
  return {
    step: (req, _res, ctx) => {
      const input = expandPlaceholders(r.source, req, ctx);
      let outputs: readonly (string | undefined)[] = r.defaults;
      let expand = (o: string): string => o;
      for (const row of rows) {
        if (row.re !== undefined) {
          const re = row.re;
          re.lastIndex = 0;
          if (!re.test(input)) continue;
          expand = (o) => input.replace(re, o);
        } else if (row.input !== input) continue;
        outputs = row.outputs;
        break;
      }
      r.destinations.forEach((dest, i) => {
        const out = outputs[i];
        if (out !== undefined) setVar(ctx, dest, expand(expandPlaceholders(out, req, ctx)));
      });
      return false;
    },
  };
};

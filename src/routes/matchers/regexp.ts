/**
 * Caddy's MatchRegexp: on a match, every capture is recorded for later handlers as
 * `http.regexp.NAME.N` and `http.regexp.NAME.capname` (`{re.NAME.N}`), and without the name
 * (`{re.N}`, which the next regexp matcher overwrites). A group that did not take part is ''.
 */
import { setValue, type RequestContext } from '../context.ts';

export type RegexpTest = (input: string, ctx: RequestContext) => boolean;

export function compileRegexp(name: string, pattern: string, flags: string): RegexpTest {
  const re = new RegExp(pattern, flags);
  return (input, ctx) => {
    const m = re.exec(input);
    if (m === null) return false;
    for (let i = 0; i < m.length; i++) record(ctx, name, String(i), m[i] ?? '');
    if (m.groups) for (const [group, value] of Object.entries(m.groups)) record(ctx, name, group, value ?? '');
    return true;
  };
}

function record(ctx: RequestContext, name: string, key: string, value: string): void {
  if (name !== '') setValue(ctx, `http.regexp.${name}.${key}`, value);
  setValue(ctx, `http.regexp.${key}`, value);
}

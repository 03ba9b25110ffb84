/**
 * Refuses a Node.js older than package.json's `engines`, with one line naming the version needed.
 *
 * src/main.ts imports this module FIRST: ES modules evaluate in import order, so the check runs
 * before any other module of my-server evaluates and calls an API an old Node lacks (where the
 * failure would be an obscure TypeError deep inside a certificate operation). The whole static
 * import graph of src/main.ts is still parsed before anything runs, so that graph must stay small
 * and free of syntax Node 20 cannot parse; commands are loaded with import() after the check.
 * Nothing is imported here.
 */

/** package.json `engines.node`; test/unit/cli/node-check.test.ts keeps the two equal. */
export const ENGINES_NODE = '>=22.22.2 <23 || >=24.14.1';

function parts(version: string): [number, number, number] | undefined {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)] : undefined;
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

/**
 * Whether `version` satisfies `range`: `||`-separated sets of space-separated comparators
 * (>=, >, <=, <, =, or a bare version). The subset of npm's semver that engines ranges use; a range
 * it cannot read admits every version, so a typo in package.json never locks users out.
 */
export function satisfies(version: string, range: string): boolean {
  const v = parts(version);
  if (!v) return true;
  return range.split('||').some((set) =>
    set
      .trim()
      .split(/\s+/)
      .filter((c) => c !== '')
      .every((comparator) => {
        const m = /^(>=|<=|>|<|=)?\s*(.+)$/.exec(comparator);
        const bound = m ? parts(m[2] ?? '') : undefined;
        if (!m || !bound) return true;
        const c = compare(v, bound);
        switch (m[1]) {
          case '>=':
            return c >= 0;
          case '>':
            return c > 0;
          case '<=':
            return c <= 0;
          case '<':
            return c < 0;
          default:
            return c === 0;
        }
      }),
  );
}

/** The one-line refusal for `version`, or undefined when it is new enough. */
export function nodeVersionProblem(version: string, range: string = ENGINES_NODE): string | undefined {
  if (satisfies(version, range)) return undefined;
  return `my-server needs Node.js ${range.replace(/\s*\|\|\s*/g, ' or ')}; this is Node.js ${version.replace(/^v?/, 'v')} (${process.execPath})`;
}

const problem = nodeVersionProblem(process.versions.node);
if (problem !== undefined) {
  process.stderr.write(`${problem}\n`);
  // exit() rather than exitCode: the modules imported after this one must not evaluate.
  process.exit(1);
}

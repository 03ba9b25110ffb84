/**
 * The file matcher (Caddy's fileserver/matcher.go):
 *
 *     file [FILES…] {
 *         root       PATH
 *         try_files  FILES…
 *         try_policy first_exist|first_exist_fallback|smallest_size|largest_size|most_recently_modified
 *         split_path DELIMS…
 *     }
 *
 * Lines merge: files add up, the last root/try_policy/split_path wins. No files at all: the
 * request path. FILES may hold globs (`/posts/*.html`) and `=CODE` entries, as Caddy 2.6.2 takes
 * them (routes/matchers/file.ts); first_exist_fallback is Caddy 2.8's (2.6.2 refuses it).
 */
import { configError } from '../errors.ts';
import type { FileRequestMatcher } from '../types.ts';
import { argsOf, noBlock } from '../directives/helpers.ts';
import type { MatcherLines } from './index.ts';

/**
 * Caddy's try policies, the one list: the file matcher block, `try_files { policy }` and the CEL
 * `file({'try_policy': …})` all check against it.
 */
export const TRY_POLICIES = [
  'first_exist',
  'first_exist_fallback',
  'smallest_size',
  'largest_size',
  'most_recently_modified',
] as const satisfies readonly FileRequestMatcher['tryPolicy'][];

/** The try policy named `text`, or undefined. */
export function tryPolicyOf(text: string): FileRequestMatcher['tryPolicy'] | undefined {
  return TRY_POLICIES.find((p) => p === text);
}

/** The error for an unknown policy name, the same wherever it is written. */
export function unknownTryPolicy(text: string): string {
  return `unknown try policy "${text}" (one of ${TRY_POLICIES.join(', ')})`;
}

export function file({ lines }: MatcherLines): FileRequestMatcher {
  let root: string | undefined;
  let tryFiles: string[] | undefined;
  let tryPolicy: FileRequestMatcher['tryPolicy'] = 'first_exist';
  let splitPath: string[] = [];
  const addFiles = (toks: readonly { text: string; line: number; col: number; file: string }[]): void => {
    for (const t of toks) {
      checkGlob(t);
      (tryFiles ??= []).push(t.text);
    }
  };
  for (const line of lines) {
    addFiles(line.args);
    for (const sub of line.block ?? []) {
      switch (sub.name.text) {
        case 'root':
          noBlock(sub);
          root = (argsOf(sub, 1, 1, 'root PATH')[0] as { text: string }).text;
          break;
        case 'try_files':
          noBlock(sub);
          addFiles(argsOf(sub, 1, Infinity, 'try_files FILES…'));
          break;
        case 'try_policy': {
          noBlock(sub);
          const tok = argsOf(sub, 1, 1, `try_policy ${TRY_POLICIES.join('|')}`)[0] as (typeof sub.args)[number];
          const policy = tryPolicyOf(tok.text);
          if (policy === undefined) throw configError(tok, `file: ${unknownTryPolicy(tok.text)}`);
          tryPolicy = policy;
          break;
        }
        case 'split_path':
          noBlock(sub);
          splitPath = argsOf(sub, 1, Infinity, 'split_path DELIMS…').map((t) => t.text);
          break;
        default:
          throw configError(sub.name, `file: unrecognized subdirective "${sub.name.text}" (root, try_files, try_policy, split_path)`);
      }
    }
  }
  return { type: 'file', ...(root !== undefined ? { root } : {}), ...(tryFiles !== undefined ? { tryFiles } : {}), tryPolicy, splitPath };
}

/**
 * A glob that can never match is a mistake to report now: an unclosed `[` class (Go's
 * filepath.Match returns ErrBadPattern, which Caddy logs per request and matches nothing).
 */
export function checkGlob(t: { text: string; line: number; col: number; file: string }): void {
  const text = t.text.replace(/\{[^{}\s]+\}/g, '');
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '[') {
      const end = text.indexOf(']', i + 2);
      if (end < 0) throw configError(t, `file: "${t.text}" has a "[" with no closing "]" (a glob class; write \\[ for the character)`);
      i = end;
    }
  }
}

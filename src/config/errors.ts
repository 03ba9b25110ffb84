import { MyServerError } from '../errors.ts';
import type { Pos } from './types.ts';

/** One problem in a Proxyfile, at a 1-based line and column. */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
}

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.file}:${issue.line}:${issue.col}: ${issue.message}`;
}

/**
 * An invalid Proxyfile. `message` is one `FILE:LINE:COL: message` line per issue; `file`, `line`
 * and `col` are those of the first issue. The loader reports every issue it can find in one pass.
 */
export class ConfigError extends MyServerError {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly [ConfigIssue, ...ConfigIssue[]], options?: { cause?: unknown }) {
    super('MS_ERR_CONFIG', issues.map(formatIssue).join('\n'), options);
    this.name = 'ConfigError';
    this.issues = issues;
    this.file = issues[0].file;
    this.line = issues[0].line;
    this.col = issues[0].col;
  }
}

/** A ConfigError with a single issue at `at` (a token or a position). */
export function configError(at: Pos, message: string, options?: { cause?: unknown }): ConfigError {
  return new ConfigError([{ file: at.file, line: at.line, col: at.col, message }], options);
}

export function posOf(at: Pos): Pos {
  return { file: at.file, line: at.line, col: at.col };
}

/**
 * Collects issues across directives and sites so that one run reports them all. Capped, because a
 * file that is not a Proxyfile at all would otherwise produce one issue per line.
 */
export class IssueCollector {
  static readonly MAX_ISSUES = 50;
  readonly #issues: ConfigIssue[] = [];

  add(err: ConfigError): void {
    for (const issue of err.issues) {
      if (this.#issues.length < IssueCollector.MAX_ISSUES) this.#issues.push(issue);
    }
  }

  /**
   * Runs `fn`; a ConfigError it throws is recorded and undefined returned. Directive parsers stop
   * at the first problem of a directive, the way a compiler recovers at the next statement.
   */
  attempt<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.add(err);
      return undefined;
    }
  }

  get size(): number {
    return this.#issues.length;
  }

  throwIfAny(): void {
    const [first, ...rest] = this.#issues;
    if (first !== undefined) throw new ConfigError([first, ...rest]);
  }
}

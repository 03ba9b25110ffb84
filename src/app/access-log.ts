import type { Config, SiteConfig } from '../config/types.ts';
import { createLogger, type Logger } from '../log.ts';

/**
 * Access loggers for sites with a `log` directive, one per distinct output, kept across reloads
 * so a file is not reopened for every config change.
 */
export class AccessLogs {
  readonly #byKey = new Map<string, Logger>();

  for(site: SiteConfig): Logger | undefined {
    const c = site.log;
    if (!c) return undefined;
    const output = c.output.kind === 'file' ? c.output.path : c.output.kind;
    const key = keyOf(c);
    let log = this.#byKey.get(key);
    if (!log) {
      log = createLogger({ output, level: c.level, ...(c.format ? { format: c.format } : {}) }).child({ logger: 'http.log.access' });
      this.#byKey.set(key, log);
    }
    return log;
  }

  /** Drop loggers no site of `config` uses any more. */
  prune(config: Config): void {
    const used = new Set(config.sites.flatMap((s) => (s.log ? [keyOf(s.log)] : [])));
    for (const key of this.#byKey.keys()) if (!used.has(key)) this.#byKey.delete(key);
  }

  close(): void {
    this.#byKey.clear();
  }
}

/** One logger per output, format and level. */
function keyOf(c: NonNullable<SiteConfig['log']>): string {
  return `${c.output.kind === 'file' ? c.output.path : c.output.kind}|${c.format ?? ''}|${c.level}`;
}

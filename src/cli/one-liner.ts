/**
 * What the `reverse-proxy` and `file-server` one-liners share: they write the Proxyfile their flags
 * mean and serve it with `run` (src/cli/run.ts runCommand), so there is one way a config is loaded,
 * validated, served, reloaded and stopped. The generated file is printed first: it is what to put
 * in a Proxyfile when the one-liner outgrows its flags, and the line numbers of any error point
 * into it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usageError } from './usage.ts';

/**
 * A flag's value as one Proxyfile token. Backtick tokens are raw (no escapes), so only a backtick
 * or a line break cannot be written; `{$VAR}` would be substituted from the environment when the
 * file is read, which a flag's value must not be, so it is refused too.
 */
export function token(flag: string, value: string): string {
  if (value === '' || /[`\r\n]/.test(value) || value.includes('{$')) {
    throw usageError(`${flag} ${JSON.stringify(value)}: empty, or holds a backtick, a line break or {$ (cannot be written into a Proxyfile)`);
  }
  // Braces stay bare ({upstream_hostport} is a placeholder either way) unless alone, where they open or close a block.
  return /^[^\s"'#\\]+$/.test(value) && value !== '{' && value !== '}' ? value : `\`${value}\``;
}

/** `Field: value` of --header-up / --header-down (Caddy's format), as two tokens. */
export function headerTokens(flag: string, value: string): string {
  const at = value.indexOf(':');
  const field = at < 0 ? '' : value.slice(0, at).trim();
  const v = at < 0 ? '' : value.slice(at + 1).trim();
  if (field === '' || v === '' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(field)) throw usageError(`${flag} ${JSON.stringify(value)}: expected "Field: value"`);
  return `${field} ${token(flag, v)}`;
}

export interface HostPort {
  readonly scheme?: 'http' | 'https';
  /** '' when absent; IPv6 without brackets. */
  readonly host: string;
  readonly port?: number;
}

/** `[scheme://][host][:port]`, as Caddy's httpcaddyfile.ParseAddress reads --from; a path is refused. */
export function parseHostPort(flag: string, value: string): HostPort {
  const m = /^(?:(https?):\/\/)?(\[[0-9A-Fa-f:.]+\]|[^:/[\]\s]*)(?::(\d{1,5}))?(\/.*)?$/.exec(value);
  if (!m) throw usageError(`${flag} ${JSON.stringify(value)}: expected [scheme://][host][:port]`);
  if (m[4] !== undefined) throw usageError(`${flag} ${JSON.stringify(value)}: paths are not allowed`);
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) throw usageError(`${flag} ${JSON.stringify(value)}: port ${port} is out of range`);
  const host = (m[2] ?? '').replace(/^\[|\]$/g, '');
  return { ...(m[1] ? { scheme: m[1] as 'http' | 'https' } : {}), host, ...(port !== undefined ? { port } : {}) };
}

/** A host for a site address or `default_bind`: IPv6 in brackets. */
export function hostToken(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** `--http-port N`: the port for redirects and HTTP-01 (my-server's addition; Caddy has no flag for it). */
export function portOption(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw usageError(`${flag} ${JSON.stringify(value)}: not a port number`);
  return n;
}

/**
 * Serves `proxyfile` with `run`, from a private temp folder (the file stays there while running so
 * SIGHUP can read it again), and removes the folder when run returns.
 */
export async function serveGenerated(command: string, proxyfile: string): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), `my-server-${command}-`));
  try {
    const file = join(dir, 'Proxyfile');
    await writeFile(file, proxyfile, { mode: 0o600 });
    process.stderr.write(`my-server ${command}: serving this Proxyfile (${file}):\n${proxyfile.replace(/^/gm, '  ')}\n`);
    const { runCommand } = await import('./run.ts');
    return await runCommand(['--config', file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

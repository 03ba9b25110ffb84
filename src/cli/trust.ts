import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { access, constants, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { MyServerError } from '../errors.ts';
import { openCertsContext } from './certs-context.ts';
import { configPath, parse } from './usage.ts';

const HELP = `Usage: my-server trust   [--config FILE] [--certs-dir DIR] [--update-command CMD] [--nss-db DIR]...
       my-server untrust [--config FILE] [--certs-dir DIR] [--update-command CMD] [--nss-db DIR]...

trust adds the local CA's root certificate (the one \`certs root\` prints, from the storage FILE
names) to this machine's trust stores, as \`caddy trust\` does; untrust takes it out again.

  system  DIR/my-server-root.crt (default /usr/local/share/ca-certificates), then CMD (default
          update-ca-certificates; run with no arguments by trust and with --fresh by untrust)
          rebuilds the bundle OpenSSL, curl and most programs read. Needs root.
  NSS     Chrome/Chromium and Firefox keep their own stores: with certutil installed (Debian:
          libnss3-tools) the root is added to each --nss-db DIR, by default ~/.pki/nssdb and the
          Firefox profiles under ~/.mozilla/firefox that exist.
`;

const ROOT_FILE = 'my-server-root.crt';
const DEFAULT_CERTS_DIR = '/usr/local/share/ca-certificates';
const DEFAULT_UPDATE = 'update-ca-certificates';
// sudo and root shells have these on PATH; a plain user's PATH often lacks them.
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

interface TrustOptions {
  readonly configFile: string;
  readonly certsDir: string;
  readonly update: string;
  /** Explicit NSS databases; undefined: the user's, where they exist. */
  readonly nssDbs: readonly string[] | undefined;
}

export function trustCommand(args: string[]): Promise<number> {
  return command('trust', args);
}

export function untrustCommand(args: string[]): Promise<number> {
  return command('untrust', args);
}

async function command(which: 'trust' | 'untrust', args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      config: { type: 'string', short: 'c' },
      'certs-dir': { type: 'string' },
      'update-command': { type: 'string' },
      'nss-db': { type: 'string', multiple: true },
    },
    false,
  );
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const nss = values['nss-db'];
  const options: TrustOptions = {
    configFile: configPath(values),
    certsDir: typeof values['certs-dir'] === 'string' ? values['certs-dir'] : DEFAULT_CERTS_DIR,
    update: typeof values['update-command'] === 'string' ? values['update-command'] : DEFAULT_UPDATE,
    nssDbs: Array.isArray(nss) ? nss : undefined,
  };
  const pem = await localRoot(options.configFile);
  const nickname = nicknameOf(pem);
  const lines = which === 'trust' ? await trustSystem(pem, options) : await untrustSystem(options);
  lines.push(...(await nssStores(which, pem, nickname, options)));
  process.stdout.write(lines.map((l) => `${l}\n`).join(''));
  return 0;
}

/** The root of the storage `run` uses for FILE (created on first use, as `certs root` does). */
async function localRoot(configFile: string): Promise<string> {
  const ctx = await openCertsContext(configFile);
  try {
    return await ctx.stack.local.rootPem();
  } finally {
    await ctx.close();
  }
}

/** NSS nickname: stable for one root, distinct for the roots of two storages on one machine. */
function nicknameOf(pem: string): string {
  const fingerprint = new X509Certificate(pem).fingerprint256.replaceAll(':', '').slice(0, 16).toLowerCase();
  return `my-server local CA root ${fingerprint}`;
}

async function trustSystem(pem: string, o: TrustOptions): Promise<string[]> {
  const dir = await stat(o.certsDir).catch(() => undefined);
  if (!dir?.isDirectory()) {
    throw new MyServerError('MS_ERR_CONFIG', `system trust store: ${o.certsDir} is not a directory (Debian and Ubuntu: apt-get install ca-certificates; elsewhere give --certs-dir and --update-command)`);
  }
  const update = await resolveCommand(o.update);
  const target = join(o.certsDir, ROOT_FILE);
  const temp = `${target}.${process.pid}.tmp`;
  try {
    // update-ca-certificates reads every *.crt there: never let it see half a file.
    await writeFile(temp, pem, { mode: 0o644 });
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw new MyServerError('MS_ERR_CONFIG', `writing ${target}${isPermission(err) ? ' (run as root: sudo my-server trust)' : ''}`, { cause: err });
  }
  const summary = await run(update, []);
  return [`trusted: ${target} (${update}: ${summary})`];
}

async function untrustSystem(o: TrustOptions): Promise<string[]> {
  const target = join(o.certsDir, ROOT_FILE);
  const present = await stat(target).then(() => true, () => false);
  if (!present) return [`not in the system store: no ${target}`];
  const update = await resolveCommand(o.update);
  try {
    await rm(target);
  } catch (err) {
    throw new MyServerError('MS_ERR_CONFIG', `removing ${target}${isPermission(err) ? ' (run as root: sudo my-server untrust)' : ''}`, { cause: err });
  }
  // --fresh: without it, update-ca-certificates leaves the removed file's link in /etc/ssl/certs.
  const summary = await run(update, ['--fresh']);
  return [`untrusted: removed ${target} (${update}: ${summary})`];
}

async function nssStores(which: 'trust' | 'untrust', pem: string, nickname: string, o: TrustOptions): Promise<string[]> {
  const dbs = o.nssDbs ?? (await userNssDbs());
  if (dbs.length === 0) return [];
  const certutil = await findOnPath('certutil');
  if (certutil === undefined) {
    if (o.nssDbs !== undefined) throw new MyServerError('MS_ERR_CONFIG', 'certutil is not installed (Debian: apt-get install libnss3-tools), so --nss-db cannot be updated');
    return [`NSS: certutil is not installed, so ${dbs.join(', ')} ${dbs.length === 1 ? 'is' : 'are'} left as ${dbs.length === 1 ? 'it is' : 'they are'} (Debian: apt-get install libnss3-tools)`];
  }
  const lines: string[] = [];
  const work = which === 'trust' ? await mkdtemp(join(tmpdir(), 'my-server-trust-')) : undefined;
  try {
    for (const db of dbs) {
      const spec = await nssSpec(db);
      const has = await exec(certutil, ['-L', '-d', spec, '-n', nickname]).then((r) => r.code === 0);
      if (which === 'trust') {
        const file = join(work ?? '', 'root.pem');
        await writeFile(file, pem);
        if (has) await run(certutil, ['-D', '-d', spec, '-n', nickname]);
        // C,, : a trusted CA for TLS servers only (not e-mail, not code signing).
        await run(certutil, ['-A', '-d', spec, '-t', 'C,,', '-n', nickname, '-i', file]);
        lines.push(`trusted: NSS ${spec} as "${nickname}"`);
      } else if (has) {
        await run(certutil, ['-D', '-d', spec, '-n', nickname]);
        lines.push(`untrusted: NSS ${spec} "${nickname}" removed`);
      } else {
        lines.push(`not in NSS ${spec}`);
      }
    }
  } finally {
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  }
  return lines;
}

/** sql: for cert9.db (and new databases), dbm: for an old profile that only has cert8.db. */
async function nssSpec(db: string): Promise<string> {
  const exists = (f: string): Promise<boolean> => access(join(db, f)).then(() => true, () => false);
  if (!(await exists('cert9.db')) && (await exists('cert8.db'))) return `dbm:${db}`;
  return `sql:${db}`;
}

async function userNssDbs(): Promise<string[]> {
  const home = homedir();
  const dbs: string[] = [];
  const pki = join(home, '.pki', 'nssdb');
  if (await access(pki).then(() => true, () => false)) dbs.push(pki);
  const firefox = join(home, '.mozilla', 'firefox');
  for (const entry of await readdir(firefox).catch(() => [] as string[])) {
    const profile = join(firefox, entry);
    if (await access(join(profile, 'cert9.db')).then(() => true, () => access(join(profile, 'cert8.db')).then(() => true, () => false))) dbs.push(profile);
  }
  return dbs;
}

async function resolveCommand(name: string): Promise<string> {
  const found = name.includes('/') ? await access(name, constants.X_OK).then(() => name, () => undefined) : await findOnPath(name);
  if (found === undefined) throw new MyServerError('MS_ERR_CONFIG', `${name} was not found${name.includes('/') ? ' or is not executable' : ' on PATH or in /usr/sbin'} (Debian and Ubuntu: apt-get install ca-certificates)`);
  return found;
}

async function findOnPath(name: string): Promise<string | undefined> {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''), ...SBIN];
  for (const dir of dirs) {
    const file = join(dir, name);
    if (await access(file, constants.X_OK).then(() => true, () => false)) return file;
  }
  return undefined;
}

function isPermission(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
}

interface Exited {
  readonly code: number | null;
  readonly output: string;
}

function exec(file: string, args: readonly string[]): Promise<Exited> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.once('error', (err) => reject(new MyServerError('MS_ERR_CONFIG', `running ${file}`, { cause: err })));
    child.once('close', (code, signal) => resolve({ code: code ?? (signal === null ? null : 128), output }));
  });
}

/** Runs to success and returns its last output line; fails naming the command, its exit and output. */
async function run(file: string, args: readonly string[]): Promise<string> {
  const r = await exec(file, args);
  const text = r.output.trim();
  if (r.code !== 0) throw new MyServerError('MS_ERR_CONFIG', `${[file, ...args].join(' ')} exited with ${r.code ?? 'a signal'}${text === '' ? '' : `: ${text.replaceAll('\n', ' | ')}`}`);
  // update-ca-certificates' summary ("1 added, 0 removed; done."); other commands: their last line.
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return (lines.find((l) => /\d+ added, \d+ removed/.test(l)) ?? lines.at(-1) ?? 'done').trim();
}

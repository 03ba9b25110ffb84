/**
 * Production packaging, end to end, without a Docker engine or a running systemd:
 * - the Dockerfile is parsed and its build and final stages are replayed in temp dirs standing in
 *   for the image's filesystem (context filtered by .dockerignore, COPY, WORKDIR, ENV, the npm and
 *   node RUN steps), then the image's ENTRYPOINT + CMD serves a request and its HEALTHCHECK runs;
 *   steps that only make sense inside the image (apt-get, setcap, chown) are listed, never guessed;
 * - systemd/my-server.service passes `systemd-analyze verify` and `security --offline`, and its
 *   ExecStart / ExecReload lines run as written against the single executable built here;
 * - the one-file bundle and the single executable run from an otherwise empty directory;
 * - `npm pack` ships only what a user needs, and the compiled bin refuses an old Node.js.
 * Everything is built from a clean copy, like `docker build`, never from this checkout's dist/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../bench/candidates.ts';
import { loadConfig } from '../../src/config/index.ts';
import { parseDuration } from '../../src/config/values.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PKG = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
// Installs come from the npm cache when it has the packages (a warm CI machine always does).
const NPM_ENV = { npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
const INSTALL_TIMEOUT_MS = 180_000;
const START_TIMEOUT_MS = 60_000;

// ---------- processes ----------

interface Ran {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs to completion; killed after timeoutMs. Never rejects on a non-zero exit. */
function exec(file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Ran> {
  const child = spawn(file, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs, killSignal: 'SIGKILL' });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

function assertOk(ran: Ran, what: string): void {
  assert.equal(ran.code, 0, `${what}: exit ${ran.code ?? ran.signal}\nstdout:\n${ran.stdout}\nstderr:\n${ran.stderr}`);
}

/** A long-running child: output captured, exit observed, always killable. */
class Child {
  readonly #child: ChildProcessByStdio<null, Readable, Readable>;
  #output = '';
  #status: Ran | undefined;
  readonly exited: Promise<Ran>;

  constructor(file: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
    this.#child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child.stdout.setEncoding('utf8').on('data', (d: string) => (this.#output += d));
    this.#child.stderr.setEncoding('utf8').on('data', (d: string) => (this.#output += d));
    this.exited = new Promise((resolve) => {
      this.#child.once('error', (err) => resolve((this.#status = { code: null, signal: null, stdout: '', stderr: String(err) })));
      this.#child.once('close', (code, signal) => resolve((this.#status = { code, signal, stdout: this.#output, stderr: '' })));
    });
  }

  get pid(): number {
    assert.ok(this.#child.pid !== undefined, `process did not start: ${this.#output}`);
    return this.#child.pid;
  }

  output(): string {
    return this.#output;
  }

  /** Polls `url` until it answers 200; fails early if the process exits. */
  async waitHealthy(url: string): Promise<void> {
    // An exit ends the wait at once, with the output that says why.
    const died = new AbortController();
    void this.exited.then((s) => died.abort(new Error(`exited (${s.code ?? s.signal}) before ${url} answered`)));
    const healthy = async (): Promise<true | undefined> => ((await fetch(url, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status, () => 0)) === 200 ? true : undefined);
    await eventually(`${url} answering 200`, START_TIMEOUT_MS, healthy, 100, died.signal).catch((err: unknown) => {
      assert.fail(`${(err as Error).message}:\n${this.#output}`);
    });
  }

  /** Sends `signal` and waits for the exit; SIGKILL after timeoutMs. */
  async stop(signal: NodeJS.Signals, timeoutMs = 40_000): Promise<Ran> {
    if (this.#status) return this.#status;
    this.#child.kill(signal);
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** GET over HTTPS trusting only `ca`; resolves with status and body. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

async function getText(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

/** An http site answering "ok" and a localhost site with a local-CA certificate, on free ports. */
async function testProxyfile(): Promise<{ text: string; httpPort: number; httpsPort: number; adminPort: number }> {
  const [httpPort, httpsPort, adminPort] = await freePorts(3);
  assert.ok(httpPort && httpsPort && adminPort);
  const text = `{\n\tadmin 127.0.0.1:${adminPort}\n\thttp_port ${httpPort}\n\thttps_port ${httpsPort}\n}\n\nhttp://127.0.0.1:${httpPort} {\n\trespond "ok"\n}\n\nlocalhost {\n\trespond "tls ok"\n}\n`;
  return { text, httpPort, httpsPort, adminPort };
}

// ---------- Dockerfile ----------

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

/** Stages of a Dockerfile: comments dropped, `\` continuations joined, keywords upper-cased. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) pending += line.slice(0, -1) + ' ';
    else {
      logical.push(pending + line);
      pending = '';
    }
  }
  const stages: { from: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const line of logical) {
    const m = /^(\w+)\s+(.*)$/s.exec(line);
    assert.ok(m?.[1] && m[2], `Dockerfile: cannot parse "${line}"`);
    const keyword = m[1].toUpperCase();
    const args = m[2].trim();
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(from?.[1], `Dockerfile: cannot parse FROM ${args}`);
      stages.push({ from: from[1], name: from[2], instructions: [] });
    } else {
      const stage = stages.at(-1);
      assert.ok(stage, `Dockerfile: ${keyword} before FROM`);
      stage.instructions.push({ keyword, args });
    }
  }
  return stages;
}

function jsonArgs(args: string, what: string): string[] {
  assert.ok(args.startsWith('['), `${what} must use the exec (JSON) form so signals reach node: ${args}`);
  const parsed: unknown = JSON.parse(args);
  assert.ok(Array.isArray(parsed) && parsed.every((a) => typeof a === 'string'), `${what}: not a JSON string array`);
  return parsed;
}

/** Go filepath.Match syntax plus `**`, as Docker's .dockerignore uses it. */
function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

interface IgnoreRule {
  readonly pattern: string;
  readonly re: RegExp;
  readonly exclude: boolean;
}

function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const exclude = !l.startsWith('!');
      const pattern = posix.normalize((exclude ? l : l.slice(1)).replace(/^\/+/, ''));
      return { pattern, re: globToRegExp(pattern), exclude };
    });
}

/** Docker's rule: a pattern matches a path or one of its parents; the last matching rule decides. */
function ignored(rules: readonly IgnoreRule[], rel: string): boolean {
  const parts = rel.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let result = false;
  for (const rule of rules) if (prefixes.some((p) => rule.re.test(p))) result = rule.exclude;
  return result;
}

/** The build context's files under `rel` (a file or a directory), relative to the context root. */
async function contextFiles(rules: readonly IgnoreRule[], rel: string): Promise<string[]> {
  const info = await stat(join(REPO, rel)).catch(() => undefined);
  assert.ok(info, `COPY source ${rel} does not exist`);
  if (!info.isDirectory()) return ignored(rules, rel) ? [] : [rel];
  // An ignored directory is still entered when an exception could re-include something below it.
  if (rel !== '.' && ignored(rules, rel) && !rules.some((r) => !r.exclude && (r.pattern.startsWith(`${rel}/`) || /[*?[]/.test(r.pattern)))) return [];
  const out: string[] = [];
  for (const entry of await readdir(join(REPO, rel))) out.push(...(await contextFiles(rules, rel === '.' ? entry : `${rel}/${entry}`)));
  return out;
}

/** One replayed stage: `root` stands for the image's `/`. */
interface Replayed {
  readonly root: string;
  workdir: string;
  readonly env: Record<string, string>;
  readonly skipped: string[];
  entrypoint?: string[];
  cmd?: string[];
  healthcheck?: string[];
  user?: string;
  volumes: string[];
  expose: string[];
  stopsignal?: string;
  /** ARG defaults, for ${NAME} in LABEL values. */
  readonly args: Record<string, string>;
  readonly labels: Record<string, string>;
}

function hostPath(stage: Replayed, imagePath: string): string {
  return join(stage.root, posix.resolve(stage.workdir, imagePath));
}

/** RUN steps that only make sense inside the image, with why the replay leaves them out. */
const IMAGE_ONLY: readonly [RegExp, string][] = [
  [/^apt-get /, "installs into the image's Debian"],
  [/^setcap cap_net_bind_service=\+ep \/usr\/local\/bin\/node$/, "needs root and the image's node binary"],
  [/^chown node:node /, "the image's `node` user does not exist here"],
  [/^rm -rf \/var\/lib\/apt\/lists\/\*$/, "apt's cache in the image"],
  [/^npm cache clean --force$/, "would empty this machine's npm cache"],
];

function containerEnv(stage: Replayed): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...NPM_ENV };
  for (const key of Object.keys(env)) if (key.startsWith('MY_SERVER_')) delete env[key];
  for (const [k, v] of Object.entries(stage.env)) env[k] = v.startsWith('/') ? join(stage.root, v) : v;
  // `node` in RUN steps and npm's shebang: the running Node, which the FROM tag pins (checked below).
  env['PATH'] = `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}`;
  return env;
}

async function replayRun(stage: Replayed, args: string): Promise<void> {
  assert.ok(!args.startsWith('['), `RUN in exec form is not replayed: ${args}`);
  for (const step of args.split('&&').map((s) => s.trim().replace(/\s+/g, ' '))) {
    const only = IMAGE_ONLY.find(([re]) => re.test(step));
    if (only) {
      stage.skipped.push(`${step} (${only[1]})`);
    } else if (/^mkdir -p( \/\S+)+$/.test(step)) {
      for (const dir of step.split(' ').slice(2)) await mkdir(hostPath(stage, dir), { recursive: true });
    } else if (/^(npm|node) /.test(step) && !/(^|\s)\//.test(step)) {
      const ran = await exec('sh', ['-c', step], { cwd: hostPath(stage, '.'), env: containerEnv(stage), timeoutMs: INSTALL_TIMEOUT_MS });
      assertOk(ran, `RUN ${step}`);
    } else {
      assert.fail(`RUN step "${step}" is neither replayed nor listed as image-only: teach test/integration/packaging.test.ts`);
    }
  }
}

async function replayCopy(stage: Replayed, args: string, rules: readonly IgnoreRule[], stages: Map<string, Replayed>): Promise<void> {
  const words = args.split(/\s+/);
  const fromFlag = words.find((w) => w.startsWith('--from='));
  const operands = words.filter((w) => !w.startsWith('--'));
  const dest = operands.pop();
  assert.ok(dest && operands.length > 0, `COPY ${args}: needs a source and a destination`);
  assert.ok(operands.length === 1 || dest.endsWith('/'), `COPY ${args}: several sources need a destination ending in /`);
  for (const source of operands) {
    assert.ok(!/[*?[]/.test(source), `COPY ${args}: wildcards are not replayed`);
    if (fromFlag) {
      const from = stages.get(fromFlag.slice('--from='.length));
      assert.ok(from, `COPY ${args}: unknown stage`);
      const src = join(from.root, posix.resolve('/', source));
      const isDir = (await stat(src)).isDirectory();
      await cp(src, isDir || !dest.endsWith('/') ? hostPath(stage, dest) : join(hostPath(stage, dest), basename(source)), { recursive: true });
      continue;
    }
    const rel = posix.normalize(source);
    const files = await contextFiles(rules, rel);
    assert.ok(files.length > 0, `COPY ${source}: nothing in the build context (excluded by .dockerignore?)`);
    const isDir = (await stat(join(REPO, rel))).isDirectory();
    for (const file of files) {
      const target = isDir ? join(hostPath(stage, dest), posix.relative(rel, file)) : dest.endsWith('/') ? join(hostPath(stage, dest), basename(file)) : hostPath(stage, dest);
      await mkdir(dirname(target), { recursive: true });
      await copyFile(join(REPO, file), target);
    }
  }
}

function parseEnv(args: string): [string, string][] {
  const pairs = [...args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)].map(([, k, v]): [string, string] => [k ?? '', v?.startsWith('"') ? (JSON.parse(v) as string) : (v ?? '')]);
  assert.ok(pairs.length > 0 && pairs.every(([, v]) => !v.includes('$')), `ENV ${args}: only KEY=VALUE without $ is replayed`);
  return pairs;
}

async function replayStage(stage: Stage, root: string, rules: readonly IgnoreRule[], stages: Map<string, Replayed>): Promise<Replayed> {
  const state: Replayed = { root, workdir: '/', env: {}, skipped: [], volumes: [], expose: [], args: {}, labels: {} };
  for (const { keyword, args } of stage.instructions) {
    switch (keyword) {
      case 'WORKDIR':
        state.workdir = posix.resolve(state.workdir, args);
        await mkdir(hostPath(state, '.'), { recursive: true });
        break;
      case 'COPY':
        await replayCopy(state, args, rules, stages);
        break;
      case 'RUN':
        await replayRun(state, args);
        break;
      case 'ENV':
        for (const [k, v] of parseEnv(args)) state.env[k] = v;
        break;
      case 'ENTRYPOINT':
        state.entrypoint = jsonArgs(args, 'ENTRYPOINT');
        break;
      case 'CMD':
        state.cmd = jsonArgs(args, 'CMD');
        break;
      case 'HEALTHCHECK':
        state.healthcheck = jsonArgs(args.replace(/^(--\S+\s+)*CMD\s+/, ''), 'HEALTHCHECK CMD');
        break;
      case 'USER':
        state.user = args;
        break;
      case 'VOLUME':
        state.volumes.push(...jsonArgs(args, 'VOLUME'));
        break;
      case 'EXPOSE':
        state.expose.push(...args.split(/\s+/));
        break;
      case 'STOPSIGNAL':
        state.stopsignal = args;
        break;
      case 'ARG': {
        const m = /^(\w+)=(\S+)$/.exec(args);
        assert.ok(m?.[1] && m[2] !== undefined, `ARG ${args}: only NAME=DEFAULT is replayed`);
        state.args[m[1]] = m[2];
        break;
      }
      case 'LABEL':
        assert.match(args, /^([\w.-]+="(?:[^"\\]|\\.)*"\s*)+$/, `LABEL ${args}: only KEY="VALUE" pairs are replayed`);
        for (const [, k, v] of args.matchAll(/([\w.-]+)="((?:[^"\\]|\\.)*)"/g)) {
          state.labels[k ?? ''] = (v ?? '').replace(/\$\{(\w+)\}/g, (_m, name: string) => {
            assert.ok(name in state.args, `LABEL ${k ?? ''}: \${${name}} is no ARG`);
            return state.args[name] ?? '';
          });
        }
        break;
      default:
        assert.fail(`Dockerfile: ${keyword} is not replayed: teach test/integration/packaging.test.ts`);
    }
  }
  return state;
}

/** argv of the image's `node` commands: the running node, image paths mapped under the stage root. */
function imageArgv(stage: Replayed, argv: readonly string[]): [string, string[]] {
  const [file, ...args] = argv;
  assert.equal(file, 'node', `the image runs ${String(file)}, not node`);
  return [process.execPath, args.map((a) => (a.startsWith('/') ? join(stage.root, a) : a))];
}

// ---------- the shared replay ----------

const tmpRoots: string[] = [];
const children: Child[] = [];
let stages: Stage[] = [];
let rules: IgnoreRule[] = [];
let build: Replayed;
let image: Replayed;

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tmpRoots.push(dir);
  return dir;
}

function spawnChild(file: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Child {
  const child = new Child(file, args, options);
  children.push(child);
  return child;
}

before(async () => {
  stages = parseDockerfile(await readFile(join(REPO, 'Dockerfile'), 'utf8'));
  rules = parseDockerignore(await readFile(join(REPO, '.dockerignore'), 'utf8').catch(() => ''));
  const replayed = new Map<string, Replayed>();
  let last: Replayed | undefined;
  for (const [i, stage] of stages.entries()) {
    last = await replayStage(stage, await tempDir(`my-server-image-${i}-`), rules, replayed);
    if (stage.name) replayed.set(stage.name, last);
    if (i === 0) build = last;
  }
  assert.ok(last && stages.length >= 2, 'the Dockerfile has a build stage and a final stage');
  image = last;
}, { timeout: 2 * INSTALL_TIMEOUT_MS + 120_000 });

after(async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL', 5_000)));
  await Promise.all(tmpRoots.map((d) => rm(d, { recursive: true, force: true })));
});

describe('Dockerfile', () => {
  test('every stage is the node image pinned to the node devDependency, which is the Node running this replay', () => {
    const tag = `node:${PKG.devDependencies['node']}-bookworm-slim`;
    for (const stage of stages) assert.equal(stage.from, tag);
    assert.equal(process.version, `v${PKG.devDependencies['node']}`);
  });

  test('the build context leaves out dependencies, build output, git, local storage and tests', () => {
    for (const path of ['node_modules/pino/package.json', 'dist/src/main.js', '.git/HEAD', '.tmp/x', '.my-server-data/pki/ca.key', 'test/unit/errors.test.ts', 'Proxyfile.example']) {
      assert.ok(ignored(rules, path), `${path} is in the build context`);
    }
    for (const path of ['package.json', 'package-lock.json', 'src/main.ts', 'scripts/build.mjs']) assert.ok(!ignored(rules, path), `${path} is missing from the build context`);
  });

  test('the final stage holds the compiled app and production dependencies only', async () => {
    const app = hostPath(image, '.');
    await stat(join(app, 'dist', 'src', 'main.js'));
    const installed = new Set(await readdir(join(app, 'node_modules')));
    for (const dep of Object.keys(PKG.dependencies)) assert.ok(installed.has(dep.split('/')[0] ?? dep), `${dep} is not installed`);
    for (const dev of Object.keys(PKG.devDependencies)) {
      const present = await stat(join(app, 'node_modules', dev)).then(() => true, () => false);
      assert.ok(!present, `devDependency ${dev} is in the image`);
    }
    assert.ok(!(await readdir(app)).includes('src'), 'TypeScript sources are in the image');
  });

  test('the image runs as the unprivileged node user with a capability for ports 80 and 443', () => {
    assert.equal(image.user, 'node');
    assert.ok(image.skipped.some((s) => s.startsWith('setcap cap_net_bind_service=+ep /usr/local/bin/node')), `no setcap step: ${image.skipped.join('; ')}`);
    assert.deepEqual(image.volumes, ['/data', '/etc/my-server']);
    assert.deepEqual(image.expose, ['80', '443']);
    assert.equal(image.stopsignal, 'SIGTERM');
  });

  test('OCI labels name the package: its version, description, licence and source, and the base image', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { description: string; license: string; repository: { url: string } };
    const l = image.labels;
    assert.equal(l['org.opencontainers.image.title'], 'my-server');
    assert.equal(l['org.opencontainers.image.version'], PKG.version, 'ARG VERSION is package.json\'s version');
    assert.equal(l['org.opencontainers.image.description'], pkg.description);
    assert.equal(l['org.opencontainers.image.licenses'], pkg.license);
    assert.equal(l['org.opencontainers.image.source'], pkg.repository.url.replace(/^git\+/, '').replace(/\.git$/, ''));
    assert.equal(l['org.opencontainers.image.base.name'], `docker.io/library/${stages.at(-1)?.from ?? ''}`);
  });

  test('the HEALTHCHECK is `my-server health` of the ENTRYPOINT\'s program, which follows $MY_SERVER_CONFIG', () => {
    assert.ok(image.healthcheck && image.entrypoint);
    assert.deepEqual(image.healthcheck, ['node', image.entrypoint.at(-1), 'health']);
    assert.equal(image.env['MY_SERVER_CONFIG'], '/etc/my-server/Proxyfile');
    assert.equal(image.env['MY_SERVER_HEALTHCHECK_URL'], undefined, 'the old variable is gone: health reads the Proxyfile');
  });

  test('`my-server` on the image PATH runs the ENTRYPOINT with its node flags', async () => {
    const wrapper = await readFile(join(image.root, 'usr/local/bin/my-server'), 'utf8');
    const line = /^exec (.*) "\$@"$/m.exec(wrapper)?.[1]?.split(' ');
    assert.deepEqual(line, image.entrypoint);
    assert.ok(((await stat(join(image.root, 'usr/local/bin/my-server'))).mode & 0o111) !== 0, 'executable');
    // Run as the image would, with its paths under the replay root.
    const mapped = join(await tempDir('my-server-wrapper-'), 'my-server');
    await writeFile(mapped, wrapper.replaceAll(' /app/', ` ${join(image.root, 'app')}/`), { mode: 0o755 });
    const ran = await exec(mapped, ['version'], { env: containerEnv(image), timeoutMs: 30_000 });
    assertOk(ran, 'my-server version');
    assert.match(ran.stdout, new RegExp(`^my-server ${PKG.version.replaceAll('.', '\\.')} \\(.*, npm\\)\n`));
  });

  test('the image\'s version names each production dependency at its installed version', async () => {
    assert.ok(image.entrypoint);
    const [node, args] = imageArgv(image, image.entrypoint);
    await checkDependencies(node, [...args, 'version', '--json'], { cwd: hostPath(image, '.'), env: containerEnv(image) }, 'npm');
  });

  test('the default Proxyfile validates, serves the welcome page on :80, and the HEALTHCHECK passes with the admin API and with `admin off`', async () => {
    assert.ok(image.entrypoint && image.healthcheck);
    const shipped = await readFile(join(image.root, 'etc/my-server/Proxyfile'), 'utf8');
    assert.equal(shipped, await readFile(join(REPO, 'docker', 'Proxyfile'), 'utf8'));
    const [node, entry] = imageArgv(image, image.entrypoint);
    const env = containerEnv(image);
    // `docker run my-server validate`: the file as shipped, at its image path.
    const validated = await exec(node, [...entry, 'validate'], { cwd: hostPath(image, '.'), env, timeoutMs: 30_000 });
    assert.deepEqual({ code: validated.code, stderr: validated.stderr }, { code: 0, stderr: '' });
    const page = await readFile(join(image.root, 'usr/share/my-server/index.html'), 'utf8');
    assert.match(page, /<title>my-server works<\/title>/);

    for (const admin of ['on', 'off'] as const) {
      // The replay runs beside other tests: port 80, the admin API's 2019 and the image paths are
      // mapped to free ports and the replay root, the only changes made to the shipped file.
      const [port, adminPort] = (await freePorts(2)) as [number, number];
      assert.match(shipped, /^:80 \{$/m);
      assert.ok(!shipped.includes('/usr/share/my-server/') && shipped.includes('root * /usr/share/my-server\n'));
      const text = `{\n\tadmin ${admin === 'on' ? `127.0.0.1:${adminPort}` : 'off'}\n}\n${shipped.replace(/^:80 \{$/m, `:${port} {`).replace('/usr/share/my-server', join(image.root, 'usr/share/my-server'))}`;
      const file = join(await tempDir('my-server-default-'), 'Proxyfile');
      await writeFile(file, text);
      const runEnv = { ...env, MY_SERVER_CONFIG: file };
      const server = spawnChild(node, [...entry, ...(image.cmd ?? [])], { cwd: hostPath(image, '.'), env: runEnv });
      const [hcNode, hcArgs] = imageArgv(image, image.healthcheck);
      await eventually('the HEALTHCHECK passing', START_TIMEOUT_MS, async () => ((await exec(hcNode, hcArgs, { env: runEnv, timeoutMs: 10_000 })).code === 0 ? true : undefined), 250);
      const hc = await exec(hcNode, hcArgs, { env: runEnv, timeoutMs: 10_000 });
      assert.equal(hc.stdout, admin === 'on' ? `healthy: admin API 127.0.0.1:${adminPort}\n` : `healthy: http listener 127.0.0.1:${port}\n`);
      assert.deepEqual(await getText(`http://127.0.0.1:${port}/`), { status: 200, body: page });
      const stopped = await server.stop('SIGTERM');
      assert.equal(stopped.code, 0, server.output());
      const down = await exec(hcNode, hcArgs, { env: runEnv, timeoutMs: 10_000 });
      assert.equal(down.code, 1, `HEALTHCHECK passes with the server stopped (admin ${admin})`);
      assert.match(down.stderr, /ECONNREFUSED/);
    }
  });

  test('ENTRYPOINT + CMD serve the mounted Proxyfile with storage in /data, the healthcheck passes, SIGTERM stops with 0', async () => {
    assert.ok(image.entrypoint && image.cmd && image.healthcheck, 'ENTRYPOINT, CMD and HEALTHCHECK are set');
    const site = await testProxyfile();
    const config = image.env['MY_SERVER_CONFIG'] ?? '';
    assert.ok(config.startsWith('/etc/my-server/'), 'MY_SERVER_CONFIG points into the /etc/my-server volume');
    await mkdir(dirname(join(image.root, config)), { recursive: true });
    await writeFile(join(image.root, config), site.text);
    // The HEALTHCHECK finds the admin API from the mounted Proxyfile, on whatever address it is.
    const env = containerEnv(image);
    const [node, args] = imageArgv(image, [...image.entrypoint, ...image.cmd]);

    // `docker run my-server certs root`: the local CA is created in the data volume.
    const root = await exec(node, [...imageArgv(image, image.entrypoint)[1], 'certs', 'root'], { cwd: hostPath(image, '.'), env, timeoutMs: START_TIMEOUT_MS });
    assertOk(root, 'certs root');
    assert.match(root.stdout, /-----BEGIN CERTIFICATE-----/);
    assert.ok((await readdir(join(image.root, 'data'))).length > 0, 'nothing stored in /data');

    const server = spawnChild(node, args, { cwd: hostPath(image, '.'), env });
    await server.waitHealthy(`http://127.0.0.1:${site.adminPort}/health`);
    assert.deepEqual(await getText(`http://127.0.0.1:${site.httpPort}/`), { status: 200, body: 'ok' });
    // Trusting only the root from the volume proves the server issued from the same storage.
    assert.deepEqual(await httpsGet(`https://localhost:${site.httpsPort}/`, root.stdout), { status: 200, body: 'tls ok' });

    const [hcNode, hcArgs] = imageArgv(image, image.healthcheck);
    assertOk(await exec(hcNode, hcArgs, { env, timeoutMs: 10_000 }), 'HEALTHCHECK while serving');

    const stopped = await server.stop(image.stopsignal as NodeJS.Signals);
    assert.equal(stopped.code, 0, `exit after ${image.stopsignal ?? ''}:\n${server.output()}`);
    const down = await exec(hcNode, hcArgs, { env, timeoutMs: 10_000 });
    assert.equal(down.code, 1, 'HEALTHCHECK passes with the server stopped');
  });
});

// ---------- Compose example ----------

type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

/**
 * The YAML that examples/compose/compose.yaml is written in, and no more: block mappings and
 * sequences by indentation, plain and quoted scalars, whole-line comments. Anything else fails,
 * so the file stays checkable here without Docker Compose (none on CI machines).
 */
function parseYamlSubset(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw, i) => ({ n: i + 1, indent: raw.length - raw.trimStart().length, body: raw.trim() }))
    .filter((l) => l.body !== '' && !l.body.startsWith('#'));
  let at = 0;
  const scalar = (v: string, n: number): Yaml => {
    if (v === '') return null;
    if (v.startsWith('"')) return JSON.parse(v) as string;
    if (v.startsWith("'")) return v.slice(1, -1).replaceAll("''", "'");
    assert.ok(!/[{}[\]&*!|>%@`]|\s#/.test(v[0] ?? '') && !/\s#/.test(v), `compose.yaml:${n}: "${v}" is outside the YAML this test reads`);
    return v;
  };
  const block = (indent: number): Yaml => {
    const first = lines[at];
    if (first === undefined || first.indent < indent) return null;
    if (first.body.startsWith('- ')) {
      const out: Yaml[] = [];
      while (lines[at]?.indent === first.indent && lines[at]?.body.startsWith('- ')) {
        const l = lines[at++]!;
        out.push(scalar(l.body.slice(2).trim(), l.n));
      }
      return out;
    }
    const out: { [key: string]: Yaml } = {};
    while (lines[at]?.indent === first.indent) {
      const l = lines[at++]!;
      const m = /^([\w.-]+):(?:\s+(.*))?$/.exec(l.body);
      assert.ok(m?.[1], `compose.yaml:${l.n}: expected "key: value"`);
      const nested = lines[at];
      out[m[1]] = m[2] !== undefined ? scalar(m[2], l.n) : nested !== undefined && nested.indent > l.indent ? block(nested.indent) : null;
    }
    const next = lines[at];
    assert.ok(next === undefined || next.indent < first.indent, `compose.yaml:${next?.n ?? 0}: unexpected indentation`);
    return out;
  };
  const doc = block(0);
  assert.equal(at, lines.length, `compose.yaml:${lines[at]?.n ?? 0}: not read`);
  return doc;
}

function mapping(v: Yaml | undefined, what: string): { [key: string]: Yaml } {
  assert.ok(v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v), `${what} is a mapping`);
  return v;
}

function strings(v: Yaml | undefined, what: string): string[] {
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `${what} is a list of strings`);
  return v as string[];
}

describe('Compose example', () => {
  const COMPOSE = join(REPO, 'examples', 'compose');

  test('compose.yaml: my-server built from this Dockerfile in front of a pinned app image, config folder and data volume mounted, ports of EXPOSE', async () => {
    const doc = mapping(parseYamlSubset(await readFile(join(COMPOSE, 'compose.yaml'), 'utf8')), 'the file');
    assert.deepEqual(Object.keys(doc).filter((k) => !['name', 'services', 'volumes'].includes(k)), []);
    const services = mapping(doc['services'], 'services');
    const proxy = mapping(services['my-server'], 'services.my-server');
    const app = mapping(services['app'], 'services.app');
    assert.equal(typeof proxy['build'], 'string');
    await stat(join(COMPOSE, proxy['build'] as string, 'Dockerfile'));
    assert.match(String(app['image']), /^traefik\/whoami:v\d+\.\d+/, 'the app image is pinned');
    assert.deepEqual(strings(proxy['depends_on'], 'depends_on'), ['app']);
    assert.deepEqual(strings(proxy['ports'], 'ports').map((p) => p.split(':').at(-1)), image.expose);

    const named = Object.keys(mapping(doc['volumes'], 'volumes'));
    const mounts = strings(proxy['volumes'], 'services.my-server.volumes').map((v) => v.split(':'));
    for (const [source = '', target = '', mode] of mounts) {
      if (source.startsWith('.')) await stat(join(COMPOSE, source));
      else assert.ok(named.includes(source), `volume ${source} is not declared`);
      if (target === '/etc/my-server') {
        assert.equal(mode, 'ro', 'the config folder is mounted read-only');
        await stat(join(COMPOSE, source, 'Proxyfile'));
      }
    }
    assert.deepEqual(mounts.map((m) => m[1]).sort(), [...image.volumes].sort(), 'every VOLUME of the image is mounted');
    const env = mapping(proxy['environment'], 'environment');
    assert.equal(env['DOMAIN'], '${DOMAIN:-localhost}');
  });

  test('its Proxyfile validates with and without DOMAIN, forwards to the app service, and stop_grace_period outlasts grace_period', async () => {
    const doc = mapping(parseYamlSubset(await readFile(join(COMPOSE, 'compose.yaml'), 'utf8')), 'the file');
    const services = mapping(doc['services'], 'services');
    const proxy = mapping(services['my-server'], 'services.my-server');
    const conf = (strings(proxy['volumes'], 'volumes').find((v) => v.split(':')[1] === '/etc/my-server') ?? '').split(':')[0] ?? '';
    const file = join(COMPOSE, conf, 'Proxyfile');
    assert.ok(image.entrypoint);
    const [node, entry] = imageArgv(image, image.entrypoint);
    for (const domain of [undefined, 'app.example.com']) {
      const env: NodeJS.ProcessEnv = { ...containerEnv(image), MY_SERVER_CONFIG: file };
      delete env['DOMAIN'];
      if (domain !== undefined) env['DOMAIN'] = domain;
      const ran = await exec(node, [...entry, 'validate'], { cwd: hostPath(image, '.'), env, timeoutMs: 30_000 });
      assert.deepEqual({ code: ran.code, stderr: ran.stderr }, { code: 0, stderr: '' }, `DOMAIN=${domain ?? '(unset)'}`);
      const config = await loadConfig(file, { env: domain === undefined ? {} : { DOMAIN: domain } });
      assert.deepEqual(config.sites.map((s) => s.addresses.map((a) => a.host)), [[domain ?? 'localhost']]);
    }
    const text = await readFile(file, 'utf8');
    const upstream = /reverse_proxy (\S+):(\d+)$/m.exec(text);
    assert.ok(upstream?.[1] && upstream[2]);
    assert.ok(Object.keys(services).includes(upstream[1]), `reverse_proxy ${upstream[1]} is no service`);
    assert.deepEqual(strings(mapping(services[upstream[1]], upstream[1])['expose'], 'expose'), [upstream[2]]);

    const g = (await loadConfig(file, { env: {} })).globals;
    const stopMs = parseDuration(String(proxy['stop_grace_period']));
    assert.ok(stopMs !== undefined, `stop_grace_period ${String(proxy['stop_grace_period'])}`);
    assert.ok(stopMs > g.gracePeriodMs + (g.shutdownDelayMs ?? 0), `stop_grace_period ${stopMs} ms must outlast grace_period ${g.gracePeriodMs} ms`);
  });
});

// ---------- npm package ----------

describe('npm package', () => {
  test('npm pack ships the program, its docs, LICENSE and the packaging files, and no tests, bench or CI', async () => {
    // --ignore-scripts: prepack's build is not what is being checked; the whitelist is.
    const ran = await exec('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, env: { ...process.env, ...NPM_ENV }, timeoutMs: 60_000 });
    assertOk(ran, 'npm pack --dry-run');
    const files = (JSON.parse(ran.stdout) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path) ?? [];
    for (const needed of ['LICENSE', 'README.md', 'package.json', 'docs/deploy.md', 'systemd/my-server.service', 'Proxyfile.example']) assert.ok(files.includes(needed), `${needed} is not in the package`);
    const stray = files.filter((f) => !/^(LICENSE|README\.md|package\.json|Proxyfile\.example|docs\/[^/]+\.md|systemd\/[^/]+|dist\/src\/.+\.js)$/.test(f));
    assert.deepEqual(stray, [], 'files a user does not need');
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { license: string; repository?: { url?: string } };
    assert.equal(pkg.license, 'Apache-2.0');
    assert.match(await readFile(join(REPO, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/);
    assert.match(pkg.repository?.url ?? '', /^git\+https:\/\//);
  });

  test('the compiled bin refuses a Node.js older than engines with one line and exit 1', async () => {
    const main = join(hostPath(build, 'dist'), 'src', 'main.js');
    const expected = (version: string, node: string): string => `my-server needs Node.js >=22.22.2 <23 or >=24.14.1; this is Node.js ${version} (${node})\n`;
    // This Node posing as Node 20: the check runs before any module that Node 20 would trip on.
    const fake = "Object.defineProperty(process.versions,'node',{value:'20.20.2'});Object.defineProperty(process,'version',{value:'v20.20.2'});";
    const posing = await exec(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(fake)}`, main, 'version'], { timeoutMs: 30_000 });
    assert.deepEqual({ code: posing.code, stdout: posing.stdout, stderr: posing.stderr }, { code: 1, stdout: '', stderr: expected('v20.20.2', process.execPath) });
    // And a real old Node where the machine has one (Debian 12: 18; this CI image: 20).
    const system = await exec('/usr/bin/node', ['--version'], { timeoutMs: 10_000 }).catch(() => undefined);
    const version = system?.code === 0 ? system.stdout.trim() : '';
    if (/^v(1\d|20|21)\./.test(version)) {
      const real = await exec('/usr/bin/node', [main, 'version'], { timeoutMs: 30_000 });
      assert.deepEqual({ code: real.code, stdout: real.stdout, stderr: real.stderr }, { code: 1, stdout: '', stderr: expected(version, '/usr/bin/node') });
    }
  });
});

// ---------- systemd ----------

const UNIT = join(REPO, 'systemd', 'my-server.service');
/** Where docs/deploy.md installs the single executable, and the unit runs it from. */
const SEA_PATH = '/usr/local/bin/my-server';

function unitValues(text: string, key: string): string[] {
  return [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => (m[1] ?? '').trim());
}

describe('systemd unit', () => {
  let unit = '';
  before(async () => {
    unit = await readFile(UNIT, 'utf8');
    const check = await exec('bash', [join(REPO, 'scripts', 'install-packaging-deps.sh'), '--check'], { timeoutMs: 10_000 });
    assertOk(check, 'systemd-analyze is needed (bash scripts/install-packaging-deps.sh)');
  });

  test('systemd-analyze verify accepts the unit without a warning', async () => {
    // A root of its own: the host's unit library (for sysinit.target and friends) and stubs for the
    // unit's programs, so the result does not depend on this machine having /usr/bin/node.
    const root = await tempDir('my-server-systemd-root-');
    await cp('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    for (const line of [...unitValues(unit, 'ExecStart'), ...unitValues(unit, 'ExecReload')]) {
      const program = join(root, line.split(/\s+/)[0] ?? '');
      await mkdir(dirname(program), { recursive: true });
      await writeFile(program, '#!/bin/sh\n', { mode: 0o755 });
    }
    await mkdir(join(root, 'etc/systemd/system'), { recursive: true });
    await copyFile(UNIT, join(root, 'etc/systemd/system/my-server.service'));
    const ran = await exec('systemd-analyze', ['verify', `--root=${root}`, 'my-server.service'], { timeoutMs: 60_000 });
    assertOk(ran, 'systemd-analyze verify');
    // verify exits 0 even for settings it ignores ("Unknown key name", "Failed to parse"): any output is a problem.
    assert.equal(ran.stdout + ran.stderr, '');
  });

  test('systemd-analyze security rates the unit 2.5 or better', async () => {
    const ran = await exec('systemd-analyze', ['security', '--offline=yes', UNIT], { timeoutMs: 60_000 });
    assertOk(ran, 'systemd-analyze security');
    const level = /Overall exposure level for my-server\.service: (\d+\.\d+)/.exec(ran.stdout)?.[1];
    assert.ok(level !== undefined, ran.stdout);
    assert.ok(Number(level) <= 2.5, `exposure ${level}:\n${ran.stdout}`);
  });

  test('ExecStart runs the single executable, which bakes in the node flags of the Dockerfile ENTRYPOINT and the benchmark', async () => {
    // The benchmark's memory figures hold for a deployment only if it runs node the same way.
    const exec = (unitValues(unit, 'ExecStart')[0] ?? '').split(/\s+/);
    assert.deepEqual(exec.slice(0, 2), [SEA_PATH, 'run'], 'no system Node.js needed (Debian 12 has Node.js 18)');
    const build = await readFile(join(REPO, 'scripts', 'build.mjs'), 'utf8');
    const baked = /execArgv: (\[[^\]]*\])/.exec(build)?.[1];
    assert.ok(baked !== undefined, 'scripts/build.mjs gives the single executable no execArgv');
    assert.deepEqual(JSON.parse(baked.replaceAll("'", '"')), NODE_FLAGS);
    const entrypoint = image.entrypoint ?? [];
    assert.deepEqual(entrypoint.slice(1, 1 + NODE_FLAGS.length), NODE_FLAGS);
    assert.ok(entrypoint[1 + NODE_FLAGS.length]?.endsWith('/dist/src/main.js'), entrypoint.join(' '));
  });

  test('storage and config directories match the paths ExecStart and Environment use', () => {
    assert.deepEqual(unitValues(unit, 'StateDirectory'), ['my-server']);
    assert.deepEqual(unitValues(unit, 'ConfigurationDirectory'), ['my-server']);
    assert.ok(unitValues(unit, 'Environment').includes('MY_SERVER_STORAGE=/var/lib/my-server'));
    assert.match(unitValues(unit, 'ExecStart')[0] ?? '', / --config \/etc\/my-server\/Proxyfile$/);
    assert.equal(unitValues(unit, 'ExecReload')[0], `${SEA_PATH} reload --config /etc/my-server/Proxyfile`);
    assert.deepEqual(unitValues(unit, 'EnvironmentFile'), ['-/etc/default/my-server']);
  });

  test('ExecStart serves with the EnvironmentFile, ExecReload waits and fails on a rejected Proxyfile, SIGTERM stops with 0', async () => {
    assertOk(await buildSeaOnce(), 'build sea');
    const etc = await tempDir('my-server-etc-');
    const state = await tempDir('my-server-state-');
    const defaults = join(await tempDir('my-server-default-'), 'my-server');
    // docs/deploy.md's install: the single executable in /usr/local/bin, nothing else.
    const paths: [string, string][] = [[SEA_PATH, join(hostPath(build, 'dist'), 'my-server')], ['/etc/default/my-server', defaults], ['/etc/my-server', etc], ['/var/lib/my-server', state]];
    const map = (word: string): string => {
      if (!word.startsWith('/')) return word;
      const hit = paths.find(([from]) => word === from || word.startsWith(`${from}/`));
      assert.ok(hit, `the unit uses ${word}, which the test does not map`);
      return hit[1] + word.slice(hit[0].length);
    };
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: '', PATH: '/usr/bin:/bin' };
    for (const key of Object.keys(env)) if (key.startsWith('MY_SERVER_')) delete env[key];
    for (const pair of unitValues(unit, 'Environment')) {
      const [k = '', v = ''] = pair.split(/=(.*)/s);
      env[k] = map(v);
    }
    // The EnvironmentFile's secrets reach {$VAR} placeholders (systemd reads it as KEY=VALUE lines).
    await writeFile(defaults, 'GREETING=ok-from-env\n', { mode: 0o600 });
    for (const file of unitValues(unit, 'EnvironmentFile')) {
      for (const line of (await readFile(map(file.replace(/^-/, '')), 'utf8')).split('\n')) {
        const [k = '', v] = line.split(/=(.*)/s);
        if (k !== '' && v !== undefined) env[k] = v;
      }
    }
    const site = await testProxyfile();
    await writeFile(join(etc, 'Proxyfile'), site.text.replace('respond "ok"', 'respond "{$GREETING}"'));
    const [file = '', ...args] = (unitValues(unit, 'ExecStart')[0] ?? '').split(/\s+/).map(map);
    const server = spawnChild(file, args, { cwd: '/', env });
    await server.waitHealthy(`http://127.0.0.1:${site.adminPort}/health`);
    assert.deepEqual(await getText(`http://127.0.0.1:${site.httpPort}/`), { status: 200, body: 'ok-from-env' });

    // systemd runs ExecReload with the service's environment plus $MAINPID.
    const [reload = '', ...reloadArgs] = (unitValues(unit, 'ExecReload')[0] ?? '').split(/\s+/).map(map);
    const reloadEnv = { ...env, MAINPID: String(server.pid) };
    await writeFile(join(etc, 'Proxyfile.new'), site.text.replace('respond "ok"', 'respond "reloaded"'));
    await rename(join(etc, 'Proxyfile.new'), join(etc, 'Proxyfile'));
    assertOk(await exec(reload, reloadArgs, { env: reloadEnv, timeoutMs: 30_000 }), 'ExecReload');
    // ExecReload returned only once the new config was in place: no polling.
    assert.deepEqual(await getText(`http://127.0.0.1:${site.httpPort}/`), { status: 200, body: 'reloaded' });

    await writeFile(join(etc, 'Proxyfile'), site.text.replace('respond "ok"', 'respond "broken" {'));
    const rejected = await exec(reload, reloadArgs, { env: reloadEnv, timeoutMs: 30_000 });
    assert.equal(rejected.code, 1, `a broken Proxyfile must fail \`systemctl reload\`:\n${rejected.stderr}`);
    assert.match(rejected.stderr, /Proxyfile:\d+:\d+: /);
    assert.deepEqual(await getText(`http://127.0.0.1:${site.httpPort}/`), { status: 200, body: 'reloaded' }, 'the old config keeps serving');

    assert.deepEqual(unitValues(unit, 'KillSignal'), ['SIGTERM']);
    const stopped = await server.stop('SIGTERM');
    // Restart=on-failure: a clean stop must exit 0 so systemd does not restart it.
    assert.equal(stopped.code, 0, server.output());
  });
});

// ---------- one file ----------

/** An empty dir holding only `file` from the build stage's dist/, and a Proxyfile. */
async function alone(file: string): Promise<{ dir: string; path: string; site: Awaited<ReturnType<typeof testProxyfile>> }> {
  const dir = await tempDir('my-server-alone-');
  const path = join(dir, basename(file));
  await copyFile(join(hostPath(build, 'dist'), file), path);
  const site = await testProxyfile();
  await writeFile(join(dir, 'Proxyfile'), site.text);
  return { dir, path, site };
}

/**
 * `version --json` names every runtime dependency at the version the build stage installed (npm ci
 * from the lockfile), and says how this copy was built.
 */
async function checkDependencies(argv0: string, argv: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv }, kind: string): Promise<void> {
  const ran = await exec(argv0, argv, { ...options, timeoutMs: 30_000 });
  assertOk(ran, 'version --json');
  const info = JSON.parse(ran.stdout) as { version: string; build: string; dependencies: Record<string, string | null> };
  const expected: Record<string, string> = {};
  for (const name of Object.keys(PKG.dependencies)) {
    expected[name] = (JSON.parse(await readFile(join(hostPath(build, 'node_modules'), name, 'package.json'), 'utf8')) as { version: string }).version;
  }
  assert.deepEqual({ version: info.version, build: info.build, dependencies: info.dependencies }, { version: PKG.version, build: kind, dependencies: expected });
}

/** `version` prints the package's version; `run` serves HTTP, and HTTPS from the local CA (which needs @peculiar/x509 after reflect-metadata). */
async function checkOneFile(argv0: string, argv: readonly string[], dir: string, site: Awaited<ReturnType<typeof testProxyfile>>, kind: string): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: '' };
  for (const key of Object.keys(env)) if (key.startsWith('MY_SERVER_')) delete env[key];
  env['MY_SERVER_STORAGE'] = join(dir, 'data');
  const version = await exec(argv0, [...argv, 'version'], { cwd: dir, env, timeoutMs: 30_000 });
  assertOk(version, 'version');
  assert.equal(version.stdout.split('\n')[0], `my-server ${PKG.version} (Node.js ${process.version}, ${process.platform}-${process.arch}, ${kind})`);
  // No node_modules here: the dependency versions were embedded when the build read them.
  await checkDependencies(argv0, [...argv, 'version', '--json'], { cwd: dir, env }, kind);

  const root = await exec(argv0, [...argv, 'certs', 'root', '--config', 'Proxyfile'], { cwd: dir, env, timeoutMs: START_TIMEOUT_MS });
  assertOk(root, 'certs root');
  const server = spawnChild(argv0, [...argv, 'run', '--config', 'Proxyfile'], { cwd: dir, env });
  await server.waitHealthy(`http://127.0.0.1:${site.adminPort}/health`);
  assert.deepEqual(await getText(`http://127.0.0.1:${site.httpPort}/`), { status: 200, body: 'ok' });
  assert.deepEqual(await httpsGet(`https://localhost:${site.httpsPort}/`, root.stdout), { status: 200, body: 'tls ok' });
  const stopped = await server.stop('SIGTERM');
  assert.equal(stopped.code, 0, server.output());
}

let released: Promise<Ran> | undefined;

/**
 * `npm run release` in the build stage's clean copy (scripts/release.mjs is not in the image's
 * build context, so it is copied in): it builds the single executable and the bundle into dist/,
 * which the systemd and one-file tests use, and names and sums them in release/. Run once.
 */
function buildSeaOnce(): Promise<Ran> {
  return (released ??= (async () => {
    await copyFile(join(REPO, 'scripts', 'release.mjs'), join(hostPath(build, 'scripts'), 'release.mjs'));
    return exec(process.execPath, ['scripts/release.mjs'], { cwd: hostPath(build, '.'), env: containerEnv(build), timeoutMs: INSTALL_TIMEOUT_MS });
  })());
}

function buildTarget(target: string): Promise<Ran> {
  return exec(process.execPath, ['scripts/build.mjs', target], { cwd: hostPath(build, '.'), env: containerEnv(build), timeoutMs: INSTALL_TIMEOUT_MS });
}

describe('one-file builds', () => {
  test('the bundle alone in an empty directory prints its version and serves HTTP and HTTPS', async () => {
    assertOk(await buildTarget('bundle'), 'build bundle');
    const { dir, path, site } = await alone('my-server.mjs');
    assert.deepEqual((await readdir(dir)).sort(), ['Proxyfile', 'my-server.mjs']);
    await checkOneFile(process.execPath, [path], dir, site, 'bundle');
  });

  test('npm run release names the single executable and the bundle with the version and platform; sha256sum -c SHA256SUMS passes', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(pkg.scripts['release'], 'node scripts/release.mjs');
    assertOk(await buildSeaOnce(), 'npm run release');
    const dir = hostPath(build, 'release');
    const binary = `my-server-${PKG.version}-${process.platform}-${process.arch}`;
    const bundle = `my-server-${PKG.version}.mjs`;
    assert.deepEqual((await readdir(dir)).sort(), ['SHA256SUMS', binary, bundle].sort());
    const check = await exec('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: dir, timeoutMs: 60_000 });
    assertOk(check, 'sha256sum -c');
    assert.equal(check.stdout, `${binary}: OK\n${bundle}: OK\n`);
    // The sums are of these files, not of something else that happens to verify.
    const sums = await readFile(join(dir, 'SHA256SUMS'), 'utf8');
    assert.match(sums, new RegExp(`^[0-9a-f]{64}  ${binary.replaceAll('.', '\\.')}\n[0-9a-f]{64}  ${bundle.replaceAll('.', '\\.')}\n$`));
    const version = await exec(join(dir, binary), ['version'], { cwd: dir, timeoutMs: 30_000 });
    assertOk(version, `${binary} version`);
    assert.equal(version.stdout.split('\n')[0], `my-server ${PKG.version} (Node.js ${process.version}, ${process.platform}-${process.arch}, single executable)`);
    const bundled = await exec(process.execPath, [join(dir, bundle), 'version'], { cwd: dir, timeoutMs: 30_000 });
    assertOk(bundled, `${bundle} version`);
    assert.match(bundled.stdout, new RegExp(`^my-server ${PKG.version.replaceAll('.', '\\.')} \\(.*, bundle\\)\n`));
    // A changed file fails the check.
    await writeFile(join(dir, bundle), '// tampered\n', { flag: 'a' });
    const tampered = await exec('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(tampered.code, 1);
    assert.match(tampered.stdout, new RegExp(`${bundle.replaceAll('.', '\\.')}: FAILED`));
  });

  test('the single executable alone in an empty directory prints its version and serves HTTP and HTTPS', async () => {
    assertOk(await buildSeaOnce(), 'build sea');
    const { dir, path, site } = await alone('my-server');
    await checkOneFile(path, [], dir, site, 'single executable');
  });
});

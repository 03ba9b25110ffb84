/**
 * The three TLS-terminating proxies under test and the shared upstream: each candidate writes its
 * own config for a set of sites (every site proxies to the same upstream with a user-managed
 * certificate) and says how to start it. Settings are the products' defaults except where noted:
 * logs off or at error level, bind to 127.0.0.1, TLS 1.3 only on nginx (the others negotiate 1.3
 * with these clients anyway), and nginx's per-connection request cap lifted so keep-alive
 * connections stay open for the whole run as they do on the other two.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SiteCertificate } from './certs.ts';

const execFileAsync = promisify(execFile);

export type CandidateId = 'my-server' | 'caddy' | 'nginx';

/** `one-core`: pinned to one CPU with one worker/thread; `all-cores`: unpinned, default worker counts. */
export type Mode = 'one-core' | 'all-cores';

export interface LaunchContext {
  /** A fresh directory for this instance's config, data and logs. */
  readonly dir: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly upstreamPort: number;
  readonly sites: readonly SiteCertificate[];
  readonly mode: Mode;
  /** When set, every site serves files from this folder (the product's file server) instead of proxying. */
  readonly files?: string;
}

/** One instance that gets certificates on demand for any name the ask endpoint allows. */
export interface OnDemandContext {
  readonly dir: string;
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly mode: Mode;
  /** File storage folder (it may already hold certificates). */
  readonly storage: string;
  /** `on_demand_tls { ask URL }`. */
  readonly askUrl: string;
  /** The ACME CA to use; the product's built-in local CA when undefined. */
  readonly acme?: { readonly directoryUrl: string; readonly caFile: string };
}

export interface Launch {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly configFile: string;
}

export interface Candidate {
  readonly id: CandidateId;
  readonly label: string;
  prepare(context: LaunchContext): Promise<Launch>;
  /** Undefined for a product without on-demand certificates (nginx). */
  prepareOnDemand?(context: OnDemandContext): Promise<Launch>;
  version(): Promise<string>;
}

/** What a site does: proxy to the upstream, or serve `files` (Caddyfile syntax, shared by my-server and Caddy). */
function caddySiteBody(c: LaunchContext): string {
  return c.files === undefined ? `	reverse_proxy 127.0.0.1:${c.upstreamPort}
` : `	root * ${c.files}
	file_server
`;
}

/** The CA lines of an on-demand instance's global options, the same words in both products. */
function onDemandGlobals(c: OnDemandContext): string {
  const ca = c.acme === undefined ? '\tlocal_certs\n' : `\tacme_ca ${c.acme.directoryUrl}\n\tacme_ca_root ${c.acme.caFile}\n\temail ops@example.test\n`;
  return `${ca}\ton_demand_tls {\n\t\task ${c.askUrl}\n\t}\n`;
}

/** A catch-all HTTPS site whose certificates come on demand. */
const ON_DEMAND_SITE = 'https:// {\n\ttls {\n\t\ton_demand\n\t}\n\trespond "od"\n}\n';

const REPO = join(import.meta.dirname, '..');
/**
 * The compiled entry point, what the Docker image and the systemd unit run (`npm run bench` builds
 * it first). Running src/main.ts would add Node's TypeScript stripper (about 30 MiB of RSS) to
 * every memory figure, which no deployment carries.
 */
const MAIN = join(REPO, 'dist', 'src', 'main.js');
/** The Node flags of the Dockerfile's ENTRYPOINT and the systemd unit's ExecStart (a packaging test checks they agree). */
export const NODE_FLAGS = ['--max-semi-space-size=8'];

/** A 1 KiB response body, as in FACTS.md's measurements. */
export const BODY_BYTES = 1024;
/** The large body of issue 12's second HTTPS/1.1 case, served by the upstream at LARGE_BODY_PATH. */
export const LARGE_BODY_BYTES = 64 * 1024;
export const LARGE_BODY_PATH = '/64k';

async function firstLine(command: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync(command, [...args], { timeout: 10_000 });
    return (stdout.trim() || stderr.trim()).split('\n')[0] ?? '';
  } catch (err) {
    return `unknown (${(err as Error).message.split('\n')[0] ?? ''})`;
  }
}

/** nginx needs writable temp paths even when it never buffers to disk; keep them in `dir`. */
function nginxPaths(dir: string): string {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((p) => `${p}_temp_path ${join(dir, `${p}-temp`)};`).join(' ');
}

/**
 * The upstream every candidate proxies to: one nginx worker answering 200 with a 1 KiB body, and
 * with a 64 KiB file at LARGE_BODY_PATH (nginx's `return` takes no 64 KiB text: its config parser
 * reads tokens through a 4 KiB buffer).
 */
export async function writeUpstreamConfig(dir: string, port: number): Promise<Launch> {
  await mkdir(join(dir, 'www'), { recursive: true });
  await writeFile(join(dir, 'www', LARGE_BODY_PATH.slice(1)), 'y'.repeat(LARGE_BODY_BYTES));
  const configFile = join(dir, 'nginx-upstream.conf');
  await writeFile(
    configFile,
    // Started as root, nginx's worker would run as nobody and could not read the bench's 0700
    // temp folder (403 for the file).
    `daemon off; ${process.getuid?.() === 0 ? 'user root; ' : ''}worker_processes 1; pid ${join(dir, 'nginx.pid')}; error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off; ${nginxPaths(dir)}
  keepalive_requests 10000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:${port} reuseport; default_type text/plain; location = ${LARGE_BODY_PATH} { root ${join(dir, 'www')}; } location / { return 200 "${'x'.repeat(BODY_BYTES)}"; } }
}
`,
  );
  return { command: 'nginx', args: ['-c', configFile, '-p', dir, '-e', 'stderr'], configFile };
}

const myServer: Candidate = {
  id: 'my-server',
  label: 'my-server',
  async prepare(c) {
    const configFile = join(c.dir, 'Proxyfile');
    const storage = join(c.dir, 'storage');
    await mkdir(storage, { recursive: true });
    const sites = c.sites.map((s) => `${s.name} {\n\ttls ${s.certFile} ${s.keyFile}\n${caddySiteBody(c)}}\n`);
    await writeFile(
      configFile,
      `{\n\thttp_port ${c.httpPort}\n\thttps_port ${c.httpsPort}\n\tadmin off\n\tstorage file ${storage}\n\tlog {\n\t\tlevel error\n\t}\n}\n${sites.join('')}`,
    );
    return { command: process.execPath, args: [...NODE_FLAGS, MAIN, 'run', '--config', configFile], configFile };
  },
  async prepareOnDemand(c) {
    const configFile = join(c.dir, 'Proxyfile');
    await writeFile(
      configFile,
      `{\n\thttp_port ${c.httpPort}\n\thttps_port ${c.httpsPort}\n\tdefault_bind 127.0.0.1\n\tadmin off\n\tstorage file ${c.storage}\n${onDemandGlobals(c)}\tlog {\n\t\tlevel error\n\t}\n}\n${ON_DEMAND_SITE}`,
    );
    return { command: process.execPath, args: [...NODE_FLAGS, MAIN, 'run', '--config', configFile], configFile };
  },
  async version() {
    return firstLine(process.execPath, [MAIN, 'version']);
  },
};

/** HOME and XDG_* keep Caddy's autosave and data out of the real home directory. */
function caddyEnv(c: { readonly dir: string; readonly mode: Mode }): NodeJS.ProcessEnv {
  return { ...process.env, HOME: c.dir, XDG_CONFIG_HOME: join(c.dir, 'config'), XDG_DATA_HOME: join(c.dir, 'data'), ...(c.mode === 'one-core' ? { GOMAXPROCS: '1' } : {}) };
}

const caddy: Candidate = {
  id: 'caddy',
  label: 'Caddy',
  async prepare(c) {
    const configFile = join(c.dir, 'Caddyfile');
    const sites = c.sites.map((s) => `${s.name} {\n\ttls ${s.certFile} ${s.keyFile}\n${caddySiteBody(c)}}\n`);
    await writeFile(
      configFile,
      `{\n\tadmin off\n\thttp_port ${c.httpPort}\n\thttps_port ${c.httpsPort}\n\tdefault_bind 127.0.0.1\n\tstorage file_system ${join(c.dir, 'data')}\n\tskip_install_trust\n\tlog {\n\t\tlevel ERROR\n\t}\n}\n${sites.join('')}`,
    );
    return { command: 'caddy', args: ['run', '--config', configFile, '--adapter', 'caddyfile'], env: caddyEnv(c), configFile };
  },
  async prepareOnDemand(c) {
    const configFile = join(c.dir, 'Caddyfile');
    await writeFile(
      configFile,
      `{\n\tadmin off\n\thttp_port ${c.httpPort}\n\thttps_port ${c.httpsPort}\n\tdefault_bind 127.0.0.1\n\tstorage file_system ${c.storage}\n\tskip_install_trust\n${onDemandGlobals(c)}\tlog {\n\t\tlevel ERROR\n\t}\n}\n${ON_DEMAND_SITE}`,
    );
    return { command: 'caddy', args: ['run', '--config', configFile, '--adapter', 'caddyfile'], env: caddyEnv(c), configFile };
  },
  async version() {
    return firstLine('caddy', ['version']);
  },
};

const nginx: Candidate = {
  id: 'nginx',
  label: 'nginx',
  async prepare(c) {
    const configFile = join(c.dir, 'nginx.conf');
    const location =
      c.files === undefined
        ? 'location / { proxy_pass http://upstream; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; }'
        : `root ${c.files};`;
    const servers = c.sites.map(
      (s) => `  server { listen 127.0.0.1:${c.httpsPort} ssl http2; server_name ${s.name}; ssl_certificate ${s.certFile}; ssl_certificate_key ${s.keyFile};
    ${location} }\n`,
    );
    await writeFile(
      configFile,
      `daemon off; worker_processes ${c.mode === 'one-core' ? 1 : 'auto'}; pid ${join(c.dir, 'nginx.pid')}; error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off; ${nginxPaths(c.dir)}
  server_names_hash_max_size 4096; server_names_hash_bucket_size 128;
  ssl_protocols TLSv1.3;
  keepalive_requests 10000000; keepalive_timeout 300s;
${c.files === undefined ? `  upstream upstream { server 127.0.0.1:${c.upstreamPort}; keepalive 64; }\n` : ''}${servers.join('')}}
`,
    );
    return { command: 'nginx', args: ['-c', configFile, '-p', c.dir, '-e', 'stderr'], configFile };
  },
  async version() {
    return firstLine('nginx', ['-v']);
  },
};

export const CANDIDATES: readonly Candidate[] = [myServer, caddy, nginx];

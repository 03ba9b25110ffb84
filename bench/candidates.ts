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
  version(): Promise<string>;
}

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

/** The upstream every candidate proxies to: one nginx worker answering 200 with a 1 KiB body. */
export async function writeUpstreamConfig(dir: string, port: number): Promise<Launch> {
  await mkdir(dir, { recursive: true });
  const configFile = join(dir, 'nginx-upstream.conf');
  await writeFile(
    configFile,
    `daemon off; worker_processes 1; pid ${join(dir, 'nginx.pid')}; error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off; ${nginxPaths(dir)}
  keepalive_requests 10000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:${port} reuseport; default_type text/plain; location / { return 200 "${'x'.repeat(BODY_BYTES)}"; } }
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
    const sites = c.sites.map((s) => `${s.name} {\n\ttls ${s.certFile} ${s.keyFile}\n\treverse_proxy 127.0.0.1:${c.upstreamPort}\n}\n`);
    await writeFile(
      configFile,
      `{\n\thttp_port ${c.httpPort}\n\thttps_port ${c.httpsPort}\n\tadmin off\n\tstorage file ${storage}\n\tlog {\n\t\tlevel error\n\t}\n}\n${sites.join('')}`,
    );
    return { command: process.execPath, args: [...NODE_FLAGS, MAIN, 'run', '--config', configFile], configFile };
  },
  async version() {
    return firstLine(process.execPath, [MAIN, 'version']);
  },
};

const caddy: Candidate = {
  id: 'caddy',
  label: 'Caddy',
  async prepare(c) {
    const configFile = join(c.dir, 'Caddyfile');
    const sites = c.sites.map((s) => `${s.name} {\n\ttls ${s.certFile} ${s.keyFile}\n\treverse_proxy 127.0.0.1:${c.upstreamPort}\n}\n`);
    await writeFile(
      configFile,
      `{\n\tadmin off\n\thttp_port ${c.httpPort}\n\thttps_port ${c.httpsPort}\n\tdefault_bind 127.0.0.1\n\tstorage file_system ${join(c.dir, 'data')}\n\tskip_install_trust\n\tlog {\n\t\tlevel ERROR\n\t}\n}\n${sites.join('')}`,
    );
    // HOME and XDG_* keep Caddy's autosave and data out of the real home directory.
    const env = { ...process.env, HOME: c.dir, XDG_CONFIG_HOME: join(c.dir, 'config'), XDG_DATA_HOME: join(c.dir, 'data'), ...(c.mode === 'one-core' ? { GOMAXPROCS: '1' } : {}) };
    return { command: 'caddy', args: ['run', '--config', configFile, '--adapter', 'caddyfile'], env, configFile };
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
    const servers = c.sites.map(
      (s) => `  server { listen 127.0.0.1:${c.httpsPort} ssl http2; server_name ${s.name}; ssl_certificate ${s.certFile}; ssl_certificate_key ${s.keyFile};
    location / { proxy_pass http://upstream; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; } }\n`,
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
  upstream upstream { server 127.0.0.1:${c.upstreamPort}; keepalive 64; }
${servers.join('')}}
`,
    );
    return { command: 'nginx', args: ['-c', configFile, '-p', c.dir, '-e', 'stderr'], configFile };
  },
  async version() {
    return firstLine('nginx', ['-v']);
  },
};

export const CANDIDATES: readonly Candidate[] = [myServer, caddy, nginx];

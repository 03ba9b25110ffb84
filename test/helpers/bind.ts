import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { query } from '../../src/dns/wire.ts';
import { freeTcpUdpPort } from './ports.ts';

/**
 * Starts BIND 9 (Debian `bind9`, /usr/sbin/named) in the foreground on a loopback port, serving
 * the given zones as primary with `allow-update` for one TSIG key: a real authoritative server for
 * DNS-01 tests (Pebble's `-dnsserver` can point at it). Each call owns its process, port and temp dir.
 */
export interface BindZone {
  /** e.g. example.test */
  readonly name: string;
  /** Extra zone-file lines, relative names allowed (`_acme-challenge.a CNAME x.other.test.`). */
  readonly records?: readonly string[];
}

export interface BindOptions {
  readonly zones: readonly BindZone[];
  /**
   * Makes this BIND a recursive resolver that sends queries for these zones to another server
   * (`type forward`): it follows CNAMEs from one zone into another, as a CA's resolver does and an
   * authoritative-only server does not.
   */
  readonly forward?: { readonly port: number; readonly zones: readonly string[] };
  /** Default hmac-sha256. */
  readonly algorithm?: 'hmac-sha256' | 'hmac-sha512';
}

export interface Bind {
  readonly port: number;
  /** `127.0.0.1:PORT` */
  readonly server: string;
  readonly keyName: string;
  readonly algorithm: 'hmac-sha256' | 'hmac-sha512';
  /** base64, as in named.conf */
  readonly secret: string;
  /** TXT values BIND serves at `name` now (asked directly). */
  txt(name: string): Promise<string[]>;
  logs(): string;
  stop(): Promise<void>;
}

export async function startBind(options: BindOptions): Promise<Bind> {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-bind-'));
  const port = await freeTcpUdpPort();
  const algorithm = options.algorithm ?? 'hmac-sha256';
  const keyName = 'my-server-test-key';
  const secret = randomBytes(32).toString('base64');
  const zones = options.zones
    .map((z) => `zone "${z.name}" { type primary; file "${join(dir, `${z.name}.zone`)}"; allow-update { key "${keyName}"; }; };`)
    .join('\n');
  await writeFile(join(dir, 'named.conf'), `
options {
  directory "${dir}";
  pid-file "${join(dir, 'named.pid')}";
  session-keyfile "${join(dir, 'session.key')}";
  managed-keys-directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion ${options.forward === undefined ? 'no' : 'yes'};
  allow-recursion { 127.0.0.1; };
  dnssec-validation no;
  notify no;
};
controls { };
key "${keyName}" { algorithm ${algorithm}; secret "${secret}"; };
${zones}
${(options.forward?.zones ?? []).map((z) => `zone "${z}" { type forward; forward only; forwarders { 127.0.0.1 port ${options.forward?.port}; }; };`).join('\n')}
`);
  for (const z of options.zones) {
    await writeFile(join(dir, `${z.name}.zone`), [
      '$TTL 60',
      `@ IN SOA ns.${z.name}. hostmaster.${z.name}. 1 60 60 600 60`,
      `@ IN NS ns.${z.name}.`,
      'ns IN A 127.0.0.1',
      ...(z.records ?? []),
      '',
    ].join('\n'));
  }
  // -g: foreground, log to stderr; -n 1: one worker (the machine is shared).
  const child: ChildProcess = spawn('named', ['-g', '-n', '1', '-c', join(dir, 'named.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  for (const s of [child.stdout, child.stderr]) {
    s?.setEncoding('utf8');
    s?.on('data', (c: string) => output.push(c));
  }
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const kill = (): void => {
    if (!exited) child.kill('SIGKILL');
  };
  process.on('exit', kill);
  const stop = async (): Promise<void> => {
    if (!exited) child.kill('SIGTERM');
    const t = setTimeout(kill, 5_000);
    await exit;
    clearTimeout(t);
    process.off('exit', kill);
    await rm(dir, { recursive: true, force: true });
  };
  const to = { host: '127.0.0.1', port };
  // Ready when it answers for the first zone; 10 s bound: named is up in well under a second.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`starting named: it exited\n${output.join('')}`);
    }
    const ok = await query(to, options.zones[0]?.name ?? options.forward?.zones[0] ?? '.', 'SOA', { timeoutMs: 300 }).then((a) => a.rcode === 'NOERROR', () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`starting named: no answer after 10 s\n${output.join('')}`);
    }
    await sleep(50);
  }
  return {
    port,
    server: `127.0.0.1:${port}`,
    keyName,
    algorithm,
    secret,
    async txt(name) {
      const a = await query(to, name, 'TXT', { tcp: true });
      return a.answers.flatMap((r) => (r.type === 'TXT' ? [(r.data as Buffer[]).map((b) => b.toString('utf8')).join('')] : []));
    },
    logs: () => output.join(''),
    stop,
  };
}

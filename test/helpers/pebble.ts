import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Resolver } from 'node:dns/promises';
import { freePorts, freeTcpUdpPort } from './ports.ts';

/**
 * Starts Let's Encrypt's Pebble (Debian 2.4.0, /usr/bin/pebble) with pebble-challtestsrv as its DNS
 * server, so every name resolves to 127.0.0.1 and Pebble validates HTTP-01 on 127.0.0.1:httpPort and
 * TLS-ALPN-01 on 127.0.0.1:tlsPort. Each call owns its processes, ports and temp dir: instances
 * never share state, so a test file may start and stop as many as it likes, even concurrently.
 */

const execFileAsync = promisify(execFile);

export interface PebbleOptions {
  /** Where Pebble sends HTTP-01 validation requests (on 127.0.0.1). Default: a free port. */
  httpPort?: number;
  /** Where Pebble sends TLS-ALPN-01 validation requests (on 127.0.0.1). Default: a free port. */
  tlsPort?: number;
  /** Pebble's `-strict` mode (upcoming breaking changes). Default false. */
  strict?: boolean;
  /** Percentage of good nonces rejected as badNonce (PEBBLE_WFE_NONCEREJECT). Pebble's default: 5. */
  nonceReject?: number;
  /** Percentage of new orders reusing valid authorizations (PEBBLE_AUTHZREUSE). Pebble's default: 50. */
  authzReuse?: number;
  /** Lifetime of issued certificates, in seconds. Pebble's default: about five years. */
  certificateValidityPeriod?: number;
  /** Intermediates between leaf and root (PEBBLE_CHAIN_LENGTH, minimum 1). */
  chainLength?: number;
  /** Number of alternate root chains offered via Link rel="alternate" (PEBBLE_ALTERNATE_ROOTS). */
  alternateRoots?: number;
  /** EAB key id → base64url HMAC key; when given, accounts must carry an external account binding. */
  eab?: Record<string, string>;
  /**
   * `HOST:PORT` of the DNS server Pebble asks (`-dnsserver`), e.g. a BIND serving DNS-01 records
   * (test/helpers/bind.ts). Default: the challtestsrv started with it.
   */
  dnsServer?: string;
  /** Names Pebble refuses to issue for (config `domainBlocklist`). */
  domainBlocklist?: string[];
  /** Extra environment for Pebble, applied last (e.g. PEBBLE_VA_NOSLEEP: '0' to restore sleeps). */
  env?: Record<string, string>;
  /** How long to wait for readiness before failing with Pebble's log. Default 10 000 ms. */
  readyTimeoutMs?: number;
  /** Abandons startup (processes are killed, temp dir removed). */
  signal?: AbortSignal;
}

/** Pebble's `/cert-status-by-serial/<hex>` answer; Reason and RevokedAt only when revoked. */
export interface CertStatus {
  /** 'Valid' or 'Revoked'. */
  Status: string;
  Serial: string;
  Certificate: string;
  Reason?: number;
  RevokedAt?: string;
}

/** A running Pebble. Every method may be called until stop(); stop() is idempotent. */
export interface Pebble {
  /** The ACME directory, e.g. https://127.0.0.1:40123/dir. */
  readonly directoryUrl: string;
  /** Base URL of Pebble's management API (roots, intermediates, certificate status). */
  readonly managementUrl: string;
  /** Base URL of pebble-challtestsrv's management API (plain HTTP), to add DNS records. */
  readonly dnsManagementUrl: string;
  /** PEM of the throwaway CA that signed Pebble's HTTPS listener certificate: pass as caRoots. */
  readonly caPem: string;
  /** Path of a file holding caPem (removed by stop()). */
  readonly caFile: string;
  /** Pebble's own HTTPS listener certificate and key (PEM, for 127.0.0.1 and localhost, signed by caPem). */
  readonly listenerCertPem: string;
  readonly listenerKeyPem: string;
  readonly httpPort: number;
  readonly tlsPort: number;
  readonly dnsPort: number;
  readonly pids: { readonly pebble: number; readonly challtestsrv: number };
  /** The root that issues certificates (new on every start). */
  rootPem(signal?: AbortSignal): Promise<string>;
  /** Root of chain `i` (0 is the default chain; others exist with alternateRoots). */
  rootsPem(i: number, signal?: AbortSignal): Promise<string>;
  intermediatePem(i?: number, signal?: AbortSignal): Promise<string>;
  intermediateKeyPem(i?: number, signal?: AbortSignal): Promise<string>;
  /** Status of a certificate by serial (hex; case, colons and leading zeros don't matter); undefined if Pebble doesn't know it. */
  certStatus(serialHex: string, signal?: AbortSignal): Promise<CertStatus | undefined>;
  /** Everything Pebble printed so far (stdout and stderr). */
  logs(): string;
  /** Orders Pebble created so far (its `Added order "…" to the db` lines; rejected newOrder requests don't count). */
  countOrders(): number;
  /** Certificates Pebble issued so far (its `Issued certificate serial …` lines). */
  countIssued(): number;
  /**
   * Stops Pebble (SIGTERM) and starts it again on the same ports and config, so it forgets every
   * account, order and certificate (a CA that lost its state); resolves when its directory answers
   * again. challtestsrv keeps running. logs() and the counters keep what the earlier run printed.
   */
  restart(signal?: AbortSignal): Promise<void>;
  /** Kills Pebble and challtestsrv (SIGTERM, SIGKILL after 5 s), waits for both to exit, removes the temp dir. */
  stop(): Promise<void>;
}

export interface HttpsResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One GET over HTTPS trusting only `caPem`, on a fresh connection (no agent keeps it open). */
export function httpsGet(url: string, caPem: string, signal?: AbortSignal): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: caPem, agent: false, signal }, (res) => {
      res.setEncoding('utf8');
      let body = '';
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** GET `url` trusting `caPem` and parse the JSON body; rejects on a non-2xx status. */
export async function httpsGetJson<T = unknown>(url: string, caPem: string, signal?: AbortSignal): Promise<T> {
  const res = await httpsGet(url, caPem, signal);
  if (res.status < 200 || res.status > 299) throw new Error(`fetching ${url}: HTTP ${res.status}: ${res.body.slice(0, 300)}`);
  return JSON.parse(res.body) as T;
}

/** A spawned process with its output captured and its exit observable. */
interface Proc {
  child: ChildProcess;
  output: string[];
  exited: Promise<void>;
  hasExited(): boolean;
}

function launch(command: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => output.push(chunk));
  }
  let done = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, sig) => {
      output.push(`[${command} exited: ${sig ?? `code ${String(code)}`}]\n`);
      done = true;
      resolve();
    });
    child.once('error', (err) => {
      output.push(`[${command} failed: ${err.message}]\n`);
      // 'exit' does not follow a failed spawn, so the process is gone already.
      if (child.pid === undefined) {
        done = true;
        resolve();
      }
    });
  });
  return { child, output, exited, hasExited: () => done };
}

async function terminate(proc: Proc): Promise<void> {
  if (proc.hasExited()) return;
  proc.child.kill('SIGTERM');
  // 5 s: Pebble exits on SIGTERM in milliseconds; the grace period only matters if it hangs.
  const grace = new AbortController();
  const graceful = await Promise.race([
    proc.exited.then(() => true),
    sleep(5000, false, { signal: grace.signal }).catch(() => false),
  ]);
  grace.abort();
  if (!graceful) {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

/** The answer to "is anything listening over plain HTTP here", whatever the status. */
function httpResponds(url: string, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, signal }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
  });
}

/** Whether challtestsrv's DNS server answers an A query with loopback, as Pebble will ask it. */
async function dnsAnswers(port: number, signal: AbortSignal): Promise<boolean> {
  // 250 ms, one try: on loopback an answer takes microseconds; the poll loop does the retrying.
  const resolver = new Resolver({ timeout: 250, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  const cancel = (): void => resolver.cancel();
  signal.addEventListener('abort', cancel, { once: true });
  try {
    return (await resolver.resolve4('readiness-probe.test')).includes('127.0.0.1');
  } catch {
    return false;
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}

async function httpsOk(url: string, caPem: string, signal: AbortSignal): Promise<boolean> {
  try {
    return (await httpsGet(url, caPem, signal)).status === 200;
  } catch {
    return false;
  }
}

const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** A throwaway CA and a localhost/127.0.0.1 certificate it signed, for Pebble's own HTTPS listeners. */
async function generateListenerCertificate(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const cnf = join(dir, 'openssl.cnf');
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await writeFile(cnf, OPENSSL_CONFIG);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc', '-days', '7'];
  await execFileAsync('openssl', ['req', '-x509', '-config', cnf, '-extensions', 'ca_ext', ...ec,
    '-keyout', caKey, '-out', caFile, '-subj', '/CN=my-server test CA for Pebble']);
  await execFileAsync('openssl', ['req', '-x509', '-config', cnf, '-extensions', 'leaf_ext', '-CA', caFile, '-CAkey', caKey, ...ec,
    '-keyout', keyFile, '-out', certFile, '-subj', '/CN=localhost']);
  return { caFile, certFile, keyFile };
}

function pebbleEnv(options: PebbleOptions): NodeJS.ProcessEnv {
  // Stray PEBBLE_* variables in the caller's environment would silently change behaviour.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PEBBLE_')));
  env.PEBBLE_VA_NOSLEEP = '1';
  if (options.nonceReject !== undefined) env.PEBBLE_WFE_NONCEREJECT = String(options.nonceReject);
  if (options.authzReuse !== undefined) env.PEBBLE_AUTHZREUSE = String(options.authzReuse);
  if (options.chainLength !== undefined) env.PEBBLE_CHAIN_LENGTH = String(options.chainLength);
  if (options.alternateRoots !== undefined) env.PEBBLE_ALTERNATE_ROOTS = String(options.alternateRoots);
  return { ...env, ...options.env };
}

function count(earlier: readonly string[], proc: Proc, pattern: RegExp): number {
  return (earlier.join('') + proc.output.join('')).match(pattern)?.length ?? 0;
}

/**
 * Starts Pebble and waits until its directory and management API answer over HTTPS. Rejects after
 * readyTimeoutMs (or on options.signal) with both processes' output, having killed them. Retries
 * up to 3 times with new ports when another process took a port between allocation and bind.
 */
export async function startPebble(options: PebbleOptions = {}): Promise<Pebble> {
  const dir = await mkdtemp(join(tmpdir(), 'my-server-pebble-'));
  try {
    const { caFile, certFile, keyFile } = await generateListenerCertificate(dir);
    const caPem = await readFile(caFile, 'utf8');
    const [httpPort, tlsPort] = await freePorts(2);
    const validation = { httpPort: options.httpPort ?? httpPort ?? 0, tlsPort: options.tlsPort ?? tlsPort ?? 0 };
    // 3 attempts: a port stolen between allocation and bind is rare; three in a row means a real fault.
    for (let attempt = 1; ; attempt++) {
      try {
        return await launchPebble(options, dir, { caPem, caFile, certFile, keyFile }, validation);
      } catch (err) {
        if (attempt >= 3 || !(err instanceof Error && err.message.includes('address already in use'))) throw err;
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function launchPebble(
  options: PebbleOptions,
  dir: string,
  tls: { caPem: string; caFile: string; certFile: string; keyFile: string },
  validation: { httpPort: number; tlsPort: number },
): Promise<Pebble> {
  const dnsPort = await freeTcpUdpPort();
  const ports = (await freePorts(4)).filter((p) => p !== dnsPort);
  const [listenPort, managementPort, dnsManagementPort] = ports;
  if (listenPort === undefined || managementPort === undefined || dnsManagementPort === undefined) {
    throw new Error('allocating ports for Pebble: too few distinct ports');
  }
  const configFile = join(dir, 'pebble-config.json');
  await writeFile(configFile, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${listenPort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: tls.certFile,
      privateKey: tls.keyFile,
      httpPort: validation.httpPort,
      tlsPort: validation.tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: options.eab !== undefined,
      ...(options.eab !== undefined && { externalAccountMACKeys: options.eab }),
      ...(options.certificateValidityPeriod !== undefined && { certificateValidityPeriod: options.certificateValidityPeriod }),
      ...(options.domainBlocklist !== undefined && { domainBlocklist: options.domainBlocklist }),
    },
  }, null, 2));

  // Only challtestsrv's DNS server is needed; its challenge listeners would only take ports.
  // Pebble asks for AAAA first, so AAAA must come back empty for it to fall back to A = 127.0.0.1.
  const dns = launch('pebble-challtestsrv', [
    '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '',
    '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-management', `127.0.0.1:${dnsManagementPort}`,
  ], process.env);
  const startPebbleProcess = (): Proc => launch('pebble', [
    '-config', configFile, '-dnsserver', options.dnsServer ?? `127.0.0.1:${dnsPort}`, `-strict=${String(options.strict === true)}`,
  ], pebbleEnv(options));
  let pebble = startPebbleProcess();
  /** Output of earlier runs (restart()), so logs and counters span them all. */
  const earlier: string[] = [];
  const killNow = (): void => {
    for (const p of [pebble, dns]) if (!p.hasExited()) p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  // Safety net for a test process that exits without calling stop(); signals are not covered.
  process.on('exit', killNow);
  const kill = async (): Promise<void> => {
    await Promise.all([terminate(pebble), terminate(dns)]);
    process.off('exit', killNow);
  };
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await kill();
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const directoryUrl = `https://127.0.0.1:${listenPort}/dir`;
  const managementUrl = `https://127.0.0.1:${managementPort}`;
  const dnsManagementUrl = `http://127.0.0.1:${dnsManagementPort}`;
  const describe = (why: string): string =>
    `starting Pebble: ${why}\n--- pebble ---\n${pebble.output.join('')}\n--- pebble-challtestsrv ---\n${dns.output.join('')}`;
  const waitReady = async (timeoutMs: number, signal: AbortSignal | undefined): Promise<void> => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const deadline = signal ? AbortSignal.any([timeout, signal]) : timeout;
    try {
      for (;;) {
        if (pebble.hasExited() || dns.hasExited()) throw new Error(describe('a process exited before becoming ready'));
        // challtestsrv keeps running when its DNS port is taken; only its log tells.
        if (dns.output.join('').includes('address already in use')) throw new Error(describe('pebble-challtestsrv could not bind'));
        // 1 s per probe: whatever holds a port we meant for Pebble may accept and never answer, and the
        // loop must get back to noticing that Pebble exited.
        const probe = AbortSignal.any([deadline, AbortSignal.timeout(1000)]);
        const ready = (await httpResponds(`${dnsManagementUrl}/`, probe))
          && (await dnsAnswers(dnsPort, probe))
          && (await httpsOk(directoryUrl, tls.caPem, probe))
          && (await httpsOk(`${managementUrl}/roots/0`, tls.caPem, probe));
        if (ready) break;
        // 50 ms: Pebble is up in ~100 ms; polling faster only burns CPU the tests share.
        await sleep(50, undefined, { signal: deadline });
      }
    } catch (err) {
      // Keep the temp dir: a retry reuses its certificate, and startPebble removes it when giving up.
      await kill();
      if (deadline.aborted && !(err instanceof Error && err.message.startsWith('starting Pebble'))) {
        const why = signal?.aborted ? 'aborted' : `not ready after ${timeoutMs} ms`;
        throw new Error(describe(why), { cause: err });
      }
      throw err;
    }
  };
  await waitReady(options.readyTimeoutMs ?? 10_000, options.signal);
  const [listenerCertPem, listenerKeyPem] = await Promise.all([readFile(tls.certFile, 'utf8'), readFile(tls.keyFile, 'utf8')]);

  const pemAt = async (path: string, signal?: AbortSignal): Promise<string> => {
    const res = await httpsGet(`${managementUrl}${path}`, tls.caPem, signal);
    if (res.status !== 200) throw new Error(`fetching Pebble ${path}: HTTP ${res.status}`);
    return res.body;
  };
  return {
    directoryUrl,
    managementUrl,
    dnsManagementUrl,
    caPem: tls.caPem,
    caFile: tls.caFile,
    listenerCertPem,
    listenerKeyPem,
    httpPort: validation.httpPort,
    tlsPort: validation.tlsPort,
    dnsPort,
    pids: { pebble: pebble.child.pid ?? -1, challtestsrv: dns.child.pid ?? -1 },
    rootPem: (signal) => pemAt('/roots/0', signal),
    rootsPem: (i, signal) => pemAt(`/roots/${i}`, signal),
    intermediatePem: (i = 0, signal) => pemAt(`/intermediates/${i}`, signal),
    intermediateKeyPem: (i = 0, signal) => pemAt(`/intermediate-keys/${i}`, signal),
    async certStatus(serialHex, signal) {
      // Pebble parses the serial as a big integer, so only the digits matter; normalise for readable URLs.
      const serial = serialHex.replace(/^0x|:/gi, '').toLowerCase().replace(/^0+(?=.)/, '');
      const res = await httpsGet(`${managementUrl}/cert-status-by-serial/${serial}`, tls.caPem, signal);
      if (res.status === 404) return undefined;
      if (res.status !== 200) throw new Error(`fetching certificate status ${serial}: HTTP ${res.status}: ${res.body.slice(0, 300)}`);
      return JSON.parse(res.body) as CertStatus;
    },
    logs: () => earlier.join('') + pebble.output.join(''),
    countOrders: () => count(earlier, pebble, /Added order "[^"]*" to the db/g),
    countIssued: () => count(earlier, pebble, /Issued certificate serial /g),
    async restart(signal) {
      if (stopped !== undefined) throw new Error('restarting Pebble: already stopped');
      await terminate(pebble);
      earlier.push(...pebble.output);
      pebble = startPebbleProcess();
      // The same ports: a port another process took meanwhile fails here, with Pebble's log.
      await waitReady(options.readyTimeoutMs ?? 10_000, signal);
    },
    stop,
  };
}

/**
 * The global options block of a my-server instance that gets its certificates from `pebble`:
 * Pebble's directory and listener root, a contact, the ports (bound to 127.0.0.1 only), file
 * storage, the admin address when given, then `extra`: whole lines, each ending in "\n".
 */
export function pebbleGlobals(pebble: Pebble, o: { readonly http: number; readonly https: number; readonly storage: string; readonly admin?: string }, extra = ''): string {
  return `{
	acme_ca ${pebble.directoryUrl}
	acme_ca_root ${pebble.caFile}
	email ops@example.test
	http_port ${o.http}
	https_port ${o.https}
	default_bind 127.0.0.1
	storage file ${o.storage}
${o.admin === undefined ? '' : `\tadmin ${o.admin}\n`}${extra}}
`;
}

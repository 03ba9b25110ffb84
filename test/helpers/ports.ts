import net from 'node:net';
import dgram from 'node:dgram';
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Free loopback ports for tests that start processes on ports they are told (my-server, Pebble,
 * Redis), which cannot listen on port 0 and report back.
 *
 * Ports come from below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 on
 * these machines), never from it: a port the kernel hands out for `listen(0)` is also one it hands
 * out to outgoing connections, and with two test files running at once, one file's client sockets
 * took another file's "free" admin port between the check and the child's bind (EADDRINUSE in CI).
 *
 * Two more ways a "free" port was taken in CI, closed here:
 * - Two test files drew the same port within the second between one's check and its child's bind.
 *   Each port handed out is reserved for every test process on the machine by a file created
 *   exclusively in a shared folder, and not handed out again by anyone for REUSE_AFTER_MS.
 * - A port free on 127.0.0.1 was in use on another address, and a server binding all interfaces
 *   (`http_port` without `bind`) failed. A port with a listener (or a bound UDP socket) at any
 *   address in /proc/net is skipped; read there rather than by binding the wildcard, so nothing
 *   here listens beyond loopback.
 * A port is still only known to be free when it is checked here, so helpers that spawn processes
 * also retry on "address already in use".
 */

/** The range ports are drawn from: above the registered services that commonly run, below ephemeral. */
const RANGE_LOW = 20_000;
const RANGE_HIGH = 32_000;

/** A port handed out is not handed out again, by this or another test process, for this long. */
const REUSE_AFTER_MS = 60_000;
const RESERVATIONS = join(tmpdir(), 'my-server-test-ports');

/**
 * Reserves `port` for this process if no test process reserved it in the last REUSE_AFTER_MS:
 * creating its file exclusively is the claim; an older file is a reservation that lapsed.
 */
export function reservePort(port: number): boolean {
  mkdirSync(RESERVATIONS, { recursive: true });
  const file = join(RESERVATIONS, String(port));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if (Date.now() - statSync(file).mtimeMs < REUSE_AFTER_MS) return false;
  utimesSync(file, new Date(), new Date());
  return true;
}

/** One socket of /proc/net/{tcp,tcp6,udp,udp6}: its ports and its state (hexadecimal, e.g. 01 established, 0A listening). */
export interface ProcNetSocket {
  readonly localPort: number;
  readonly remotePort: number;
  readonly state: string;
}

/** The sockets the kernel lists in /proc/net/`file`; none when the file is absent (no IPv6 in this namespace). */
export function procNetSockets(file: 'tcp' | 'tcp6' | 'udp' | 'udp6'): ProcNetSocket[] {
  let text: string;
  try {
    text = readFileSync(`/proc/net/${file}`, 'latin1');
  } catch {
    return [];
  }
  const port = (address: string | undefined): number => parseInt(address?.split(':')[1] ?? '', 16);
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 3)
    .map((f) => ({ localPort: port(f[1]), remotePort: port(f[2]), state: f[3]! }));
}

/** Local ports of the TCP listeners (state 0A) and bound UDP sockets on any address, IPv4 and IPv6. */
export function portsInUse(): Set<number> {
  const used = new Set<number>();
  for (const [file, listenOnly] of [['tcp', true], ['tcp6', true], ['udp', false], ['udp6', false]] as const) {
    for (const s of procNetSockets(file)) if (!listenOnly || s.state === '0A') used.add(s.localPort);
  }
  return used;
}

function candidate(): number {
  const used = portsInUse();
  for (;;) {
    const port = RANGE_LOW + Math.floor(Math.random() * (RANGE_HIGH - RANGE_LOW));
    if (!used.has(port) && reservePort(port)) return port;
  }
}

function listenTcp(host: string, port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ host, port, exclusive: true }, () => resolve(server));
  });
}

/** Binds a free port from the range on `host`, or throws after a bounded number of tries. */
async function listenFree(host: string): Promise<net.Server> {
  // 200 tries: a 12,000-port range with a few hundred taken almost never needs more than two.
  for (let attempt = 0; attempt < 200; attempt++) {
    const server = await listenTcp(host, candidate());
    if (server !== undefined) return server;
  }
  throw new Error(`allocating a free TCP port on ${host} in ${RANGE_LOW}-${RANGE_HIGH}: none found in 200 attempts`);
}

function portOf(server: net.Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('reading listener address: not a TCP socket');
  return address.port;
}

function closeTcp(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A TCP port on `host` that nothing listened on a moment ago. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  if (port === undefined) throw new Error('allocating a free port: none returned');
  return port;
}

/**
 * `n` distinct free TCP ports on `host`. All listeners are held open together before any is
 * closed, so the kernel cannot hand out the same port twice.
 */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await listenFree(host));
    const ports = servers.map(portOf);
    return ports;
  } finally {
    await Promise.all(servers.map(closeTcp));
  }
}

function bindUdp(host: string, port: number): Promise<dgram.Socket | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', () => {
      socket.close();
      resolve(undefined);
    });
    socket.bind({ address: host, port, exclusive: true }, () => resolve(socket));
  });
}

/**
 * A port free for both TCP and UDP on `host` (a DNS server binds both). Tries a bounded number of
 * free TCP ports until one is also free for UDP.
 */
export async function freeTcpUdpPort(host = '127.0.0.1'): Promise<number> {
  // 20 tries: a TCP port whose UDP twin is taken is rare, so running out means something is wrong.
  for (let attempt = 0; attempt < 20; attempt++) {
    const server = await listenFree(host);
    const port = portOf(server);
    const udp = await bindUdp(host, port);
    await closeTcp(server);
    if (udp !== undefined) {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      return port;
    }
  }
  throw new Error(`allocating a port free for TCP and UDP on ${host}: none found in 20 attempts`);
}

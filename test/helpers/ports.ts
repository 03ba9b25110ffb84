import net from 'node:net';
import dgram from 'node:dgram';

/**
 * Free loopback ports for helpers that start external processes (Pebble, Redis), which cannot be
 * told to listen on port 0 and report back. A port is only known to be free at the moment it is
 * closed here; another process may take it before the caller binds it, so callers that spawn a
 * process should retry with fresh ports when it reports "address already in use".
 */

function listenTcp(host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
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
    for (let i = 0; i < n; i++) servers.push(await listenTcp(host));
    return servers.map(portOf);
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
 * kernel-chosen TCP ports until one is also free for UDP.
 */
export async function freeTcpUdpPort(host = '127.0.0.1'): Promise<number> {
  // 20 tries: a TCP port whose UDP twin is taken is rare, so running out means something is wrong.
  for (let attempt = 0; attempt < 20; attempt++) {
    const server = await listenTcp(host);
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

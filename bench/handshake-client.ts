/**
 * Full-handshake load: `concurrency` loops that each open a TLS 1.3 connection, complete a full
 * handshake (no session or ticket is ever offered: Node reuses a session only when `session` is
 * passed), close it gracefully so the server reads the client Finished and the close_notify, and
 * start over, for `seconds`. Prints one JSON line: { handshakes, resumed, errors, seconds, cpuSeconds,
 * group, cipher }, the last two from the first completed handshake: the key exchange group decides
 * much of a handshake's cost (X25519MLKEM768 costs more than X25519), so servers that negotiate
 * different groups are not doing the same work.
 *
 * Run as its own process, pinned away from the server:
 *   node bench/handshake-client.ts PORT SERVERNAME CONCURRENCY SECONDS [GROUPS]
 * GROUPS (e.g. X25519) limits the key shares offered, so that servers of different ages do the
 * same key exchange; without it, Node's defaults (X25519MLKEM768 first) are offered.
 * It sends no HTTP request, so only the server's TLS work (key share, signature, Finished) and its
 * connection setup and teardown are measured, not the proxying.
 */
import { connect } from 'node:tls';

const [portArg, servername = 'localhost', concurrencyArg = '32', secondsArg = '8', groups] = process.argv.slice(2);
const port = Number(portArg);
const concurrency = Number(concurrencyArg);
const seconds = Number(secondsArg);

/** A handshake that neither completes nor fails in this long counts as an error. */
const HANDSHAKE_TIMEOUT_MS = 5000;

const counts = { handshakes: 0, resumed: 0, errors: 0 };
let negotiated: { group: string; cipher: string } | undefined;

function handshakeOnce(): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false, minVersion: 'TLSv1.3', ...(groups ? { ecdhCurve: groups } : {}) });
    const timer = setTimeout(() => socket.destroy(new Error('handshake timeout')), HANDSHAKE_TIMEOUT_MS);
    let done = false;
    let secured = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!ok) counts.errors++;
      resolve();
    };
    socket.once('secureConnect', () => {
      secured = true;
      counts.handshakes++;
      if (socket.isSessionReused()) counts.resumed++;
      negotiated ??= { group: (socket.getEphemeralKeyInfo() as { name?: string } | null)?.name ?? 'unknown', cipher: socket.getCipher().name };
      socket.end();
    });
    socket.on('data', () => undefined); // session tickets
    // A server that closes before the handshake completes has failed it.
    socket.once('close', () => finish(secured));
    socket.once('error', () => {
      socket.destroy();
      finish(false);
    });
  });
}

async function loop(deadline: number): Promise<void> {
  while (Date.now() < deadline) await handshakeOnce();
}

if (!(port > 0 && concurrency > 0 && seconds > 0)) {
  process.stderr.write('usage: node bench/handshake-client.ts PORT SERVERNAME CONCURRENCY SECONDS [GROUPS]\n');
  process.exitCode = 2;
} else {
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, () => loop(Date.now() + seconds * 1000)));
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ ...counts, seconds: elapsed, cpuSeconds: (cpu.user + cpu.system) / 1e6, ...negotiated })}\n`);
}

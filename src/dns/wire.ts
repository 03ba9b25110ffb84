/**
 * DNS over the wire: one exchange with one server (UDP, falling back to TCP on truncation; TCP
 * only for updates), and the small byte-level helpers TSIG and UPDATE need that dns-packet does
 * not offer (class NONE, the TSIG record, walking a message to its last record).
 */
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { MyServerError } from '../errors.ts';

export interface DnsServer {
  readonly host: string;
  readonly port: number;
}

/** `IP`, `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT`; undefined when it is none of those. */
export function parseServer(text: string, defaultPort = 53): DnsServer | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed !== null) return server(bracketed[1] as string, bracketed[2], defaultPort);
  if (isIP(text) !== 0) return { host: text, port: defaultPort };
  const m = /^([A-Za-z0-9.-]+|[\d.]+)(?::(\d+))?$/.exec(text);
  return m === null ? undefined : server(m[1] as string, m[2], defaultPort);
}

function server(host: string, port: string | undefined, defaultPort: number): DnsServer | undefined {
  const p = port === undefined ? defaultPort : Number(port);
  return Number.isInteger(p) && p > 0 && p < 65536 ? { host, port: p } : undefined;
}

export const formatServer = (s: DnsServer): string => (isIP(s.host) === 6 ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`);

export interface ExchangeOptions {
  readonly signal?: AbortSignal | undefined;
  /** Per attempt. 3 s: an authoritative server on the other side of the world answers in < 1 s. */
  readonly timeoutMs?: number;
  readonly tcp?: boolean;
}

const DEFAULT_TIMEOUT_MS = 3_000;
/** A UDP query is sent at most this many times: datagrams get lost, answers rarely twice. */
const UDP_TRIES = 2;

/** Sends `msg` (ID already set) and resolves with the raw answer carrying the same ID. */
export async function exchange(to: DnsServer, msg: Buffer, options: ExchangeOptions = {}): Promise<Buffer> {
  if (options.tcp !== true) {
    const answer = await udpExchange(to, msg, options);
    // TC: "the message was truncated" (RFC 1035 §4.1.1): ask again over TCP.
    if ((answer.readUInt16BE(2) & dnsPacket.TRUNCATED_RESPONSE) === 0) return answer;
  }
  return tcpExchange(to, msg, options);
}

async function udpExchange(to: DnsServer, msg: Buffer, options: ExchangeOptions): Promise<Buffer> {
  let last: unknown;
  for (let i = 0; i < UDP_TRIES; i++) {
    try {
      return await udpOnce(to, msg, options);
    } catch (err) {
      if (options.signal?.aborted === true) throw err;
      last = err;
    }
  }
  throw last;
}

function udpOnce(to: DnsServer, msg: Buffer, options: ExchangeOptions): Promise<Buffer> {
  return settleOnce(to, 'udp', options, (done) => {
    const socket = dgram.createSocket(isIP(to.host) === 6 ? 'udp6' : 'udp4');
    const id = msg.readUInt16BE(0);
    socket.on('error', (err) => done(networkError(to, err.message, err)));
    // Answers from elsewhere or for another ID are not ours (RFC 5452 §9.1): wait for the right one.
    socket.on('message', (answer, rinfo) => {
      if (answer.length >= 12 && answer.readUInt16BE(0) === id && rinfo.port === to.port) done(undefined, answer);
    });
    socket.send(msg, to.port, to.host);
    return () => socket.close();
  });
}

function tcpExchange(to: DnsServer, msg: Buffer, options: ExchangeOptions): Promise<Buffer> {
  return settleOnce(to, 'tcp', options, (done) => {
    const socket = net.connect({ host: to.host, port: to.port });
    const chunks: Buffer[] = [];
    let size = 0;
    socket.on('error', (err) => done(networkError(to, err.message, err)));
    socket.on('close', () => done(networkError(to, 'connection closed before the answer (tcp)')));
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      size += chunk.length;
      const all = Buffer.concat(chunks, size);
      // RFC 1035 §4.2.2: each message is prefixed by a two byte length field.
      if (all.length >= 2 && all.length >= 2 + all.readUInt16BE(0)) done(undefined, all.subarray(2, 2 + all.readUInt16BE(0)));
    });
    const len = Buffer.alloc(2);
    len.writeUInt16BE(msg.length);
    socket.write(Buffer.concat([len, msg]));
    return () => socket.destroy();
  });
}

/**
 * One query and its answer, settled once: by `start`'s `done`, the timeout or the abort signal,
 * whichever comes first; then the transport's cleanup runs.
 */
function settleOnce(
  to: DnsServer,
  proto: 'udp' | 'tcp',
  options: ExchangeOptions,
  start: (done: (err: Error | undefined, answer?: Buffer) => void) => () => void,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const transport: { cleanup?: () => void } = {};
    const done = (err: Error | undefined, answer?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      transport.cleanup?.();
      if (err) reject(err);
      else resolve(answer as Buffer);
    };
    const onAbort = (): void => done(abortError(options.signal));
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer = setTimeout(() => done(networkError(to, `no answer within ${timeoutMs} ms (${proto})`)), timeoutMs);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = start(done);
    // An answer (or error) that came synchronously settled before cleanup was known.
    if (settled) cleanup();
    else transport.cleanup = cleanup;
  });
}

function networkError(to: DnsServer, why: string, cause?: unknown): MyServerError {
  return new MyServerError('MS_ERR_CHALLENGE_FAILED', `asking DNS server ${formatServer(to)}: ${why}`, cause === undefined ? undefined : { cause });
}

function abortError(signal: AbortSignal | undefined): MyServerError {
  return new MyServerError('MS_ERR_ABORTED', 'DNS exchange aborted', { cause: signal?.reason });
}

export const newId = (): number => randomInt(0, 0x10000);

/** RFC 1035 §4.1.1 and RFC 2136 §2.2 names of the header's RCODE. */
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

export function rcodeOf(msg: Buffer): string {
  const code = msg.readUInt16BE(2) & 0xf;
  return RCODES[code] ?? `RCODE${code}`;
}

/** A record's data, whatever its type (OPT records have none). */
export function dataOf(r: dnsPacket.Answer): unknown {
  return 'data' in r ? r.data : undefined;
}

export interface QueryAnswer {
  readonly rcode: string;
  readonly authoritative: boolean;
  readonly answers: readonly dnsPacket.Answer[];
  readonly authorities: readonly dnsPacket.Answer[];
}

/** One query, RD set, so a recursive resolver answers as well as an authoritative server. */
export async function query(to: DnsServer, name: string, type: dnsPacket.RecordType, options: ExchangeOptions = {}): Promise<QueryAnswer> {
  const msg = dnsPacket.encode({
    type: 'query',
    id: newId(),
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  });
  const raw = await exchange(to, msg, options);
  const p = dnsPacket.decode(raw);
  return {
    rcode: rcodeOf(raw),
    authoritative: p.flag_aa === true,
    answers: p.answers ?? [],
    authorities: p.authorities ?? [],
  };
}

/** A domain name in uncompressed wire form, lower-cased (RFC 8945 §4.3.3: "canonical wire format"). */
export function wireName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').toLowerCase().split('.').filter((l) => l !== '');
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, 'utf8');
    if (b.length > 63) throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `DNS label too long in "${name}"`);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Offset just past the (possibly compressed) name at `offset`. */
export function skipName(buf: Buffer, offset: number): number {
  let o = offset;
  for (;;) {
    const len = buf.readUInt8(o);
    if (len === 0) return o + 1;
    if ((len & 0xc0) === 0xc0) return o + 2;
    o += 1 + len;
  }
}

/** Reads the (possibly compressed) name at `offset` as dotted text, lower-cased. */
export function readName(buf: Buffer, offset: number): string {
  const labels: string[] = [];
  let o = offset;
  for (let hops = 0; hops < 64; hops++) {
    const len = buf.readUInt8(o);
    if (len === 0) return labels.join('.').toLowerCase();
    if ((len & 0xc0) === 0xc0) {
      o = buf.readUInt16BE(o) & 0x3fff;
      continue;
    }
    labels.push(buf.toString('utf8', o + 1, o + 1 + len));
    o += 1 + len;
  }
  throw new Error('DNS name with a compression loop');
}

/** Offset of each resource record of the message (answers, authorities, additionals, in order). */
export function recordOffsets(buf: Buffer): number[] {
  let o = 12;
  for (let q = buf.readUInt16BE(4); q > 0; q--) o = skipName(buf, o) + 4;
  const total = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  const offsets: number[] = [];
  for (let i = 0; i < total; i++) {
    offsets.push(o);
    const rdata = skipName(buf, o) + 10;
    o = rdata + buf.readUInt16BE(rdata - 2);
  }
  return offsets;
}

/** Sets the CLASS of the record at `offset` (dns-packet cannot write NONE, RFC 2136 §2.5.4). */
export function setRecordClass(buf: Buffer, offset: number, klass: number): void {
  buf.writeUInt16BE(klass, skipName(buf, offset) + 2);
}

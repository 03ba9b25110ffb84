/**
 * The HTTP/2 abuse phase of the benchmark (issue 7): cancelled streams and a rapid-reset burst
 * (CVE-2023-44487) against each proxy, then whether the site still answers and what it holds in
 * memory. Run in the bench process (node:http2 for the cancels, frames written by hand for the
 * burst: test/helpers/rapid-reset.ts), one client at a time, bounded in count and time.
 */
import http2 from 'node:http2';
import { rapidResetBurst } from '../test/helpers/rapid-reset.ts';
import type { LoadTarget } from './load.ts';

export interface AbuseResult {
  /** Streams opened then cancelled (RST_STREAM CANCEL) while the proxy was working on them. */
  readonly cancelled: number;
  /** HEADERS + RST_STREAM pairs written back to back on one connection before its GOAWAY or close was seen. */
  readonly rapidResets: number;
  /** Whether the proxy ended the rapid-reset connection with GOAWAY. */
  readonly goaway: boolean;
  /** Time for a fresh GET after both bursts to be answered, or undefined when it was not within 10 s. */
  readonly answeredMs?: number;
  readonly status?: number;
}

const CANCEL_ROUNDS = 10;
const CANCELS_PER_CONNECTION = 1_000;
const IN_FLIGHT = 20;
const RAPID_RESETS = 2_000;
const PHASE_LIMIT_MS = 60_000;

function connect(target: LoadTarget): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${target.port}`, { servername: target.host, rejectUnauthorized: false });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/** `total` GETs, `IN_FLIGHT` at a time, each reset 0–10 ms after it was sent. */
async function cancelOn(session: http2.ClientHttp2Session, target: LoadTarget, total: number, deadline: number): Promise<number> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total && !session.destroyed && Date.now() < deadline) {
      started++;
      await new Promise<void>((resolve) => {
        const req = session.request({ ':path': '/', ':authority': target.host });
        req.on('error', () => undefined);
        req.on('data', () => undefined);
        req.once('close', () => resolve());
        setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), Math.floor(Math.random() * 11));
      });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return started;
}

async function rapidReset(target: LoadTarget): Promise<{ sent: number; goaway: boolean }> {
  // Frames written by hand: node:http2's client can miss the GOAWAY of a server it floods (see
  // the helper). A server that keeps the connection open has nothing more to say after 2 s.
  const burst = await rapidResetBurst({ port: target.port, servername: target.host, pairs: RAPID_RESETS, waitMs: 2_000 });
  return { sent: burst.sent, goaway: burst.goaway !== undefined };
}

async function timedGet(target: LoadTarget): Promise<{ ms: number; status: number } | undefined> {
  const began = performance.now();
  const session = await connect(target).catch(() => undefined);
  if (session === undefined) return undefined;
  session.on('error', () => undefined);
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 10_000);
      const req = session.request({ ':path': '/', ':authority': target.host });
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', () => undefined);
      req.on('end', () => {
        clearTimeout(timer);
        resolve({ ms: performance.now() - began, status });
      });
      req.on('error', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
  } finally {
    session.destroy();
  }
}

export async function runAbuse(target: LoadTarget): Promise<AbuseResult> {
  const deadline = Date.now() + PHASE_LIMIT_MS;
  let cancelled = 0;
  for (let round = 0; round < CANCEL_ROUNDS && Date.now() < deadline; round++) {
    target.signal.throwIfAborted();
    const session = await connect(target);
    session.on('error', () => undefined);
    cancelled += await cancelOn(session, target, CANCELS_PER_CONNECTION, deadline);
    session.destroy();
  }
  const reset = await rapidReset(target);
  const answer = await timedGet(target);
  return {
    cancelled,
    rapidResets: reset.sent,
    goaway: reset.goaway,
    ...(answer === undefined ? {} : { answeredMs: answer.ms, status: answer.status }),
  };
}

/**
 * The request path in-process: a Generation built from Proxyfile text, the real RequestHandler,
 * served by the real fronts (HttpFront, TlsFront) on loopback; raw-socket clients to see exactly
 * what goes over the wire.
 */
import net from 'node:net';
import tls, { type SecureContext } from 'node:tls';
import { Generation, type IssuerSource } from '../../../src/app/generation.ts';
import type { Issuer } from '../../../src/certs/issuer.ts';
import { parseConfig } from '../../../src/config/index.ts';
import type { SiteConfig } from '../../../src/config/types.ts';
import { HttpFront } from '../../../src/http/http-front.ts';
import { RequestHandler, type Http01Responder } from '../../../src/http/request-handler.ts';
import { silentLogger, type Logger } from '../../../src/log.ts';
import { TlsFront, TLS_CONTEXT_OPTIONS } from '../../../src/tls/tls-front.ts';
import { freePort } from '../../helpers/ports.ts';

/**
 * These tests serve `http://` sites and sites with `tls CERT KEY`, which need no issuer: building
 * one means the test's Proxyfile asked for something it should not.
 */
const noIssuers: IssuerSource = {
  for: (): Issuer => {
    throw new Error('no issuer in request-path tests: use http:// sites or tls CERT KEY');
  },
};

export async function buildGeneration(proxyfile: string): Promise<Generation> {
  const config = await parseConfig(proxyfile, { filename: 'test' });
  return Generation.build(config, noIssuers, silentLogger(), TLS_CONTEXT_OPTIONS);
}

export interface HandlerOptions {
  readonly http01?: () => readonly (Http01Responder | undefined)[];
  readonly accessLog?: Logger;
}

export function handlerFor(gen: () => Generation | undefined, o: HandlerOptions = {}): RequestHandler {
  return new RequestHandler({
    generation: gen,
    http01: o.http01 ?? (() => []),
    accessLogs: { for: (site: SiteConfig) => (site.log ? o.accessLog : undefined) },
    log: silentLogger(),
  });
}

export interface Served {
  /** The real port on 127.0.0.1. */
  readonly port: number;
  close(): Promise<void>;
}

/** An HttpFront on a free loopback port whose requests the handler takes as for `configPort`. */
export async function serveHttp(handler: RequestHandler, configPort: number): Promise<Served> {
  const front = new HttpFront({
    onRequest: (req, res) => void handler.handle(req, res, 'http', configPort),
    onUpgrade: (req, socket, head) => void handler.upgrade(req, socket, head, 'http', configPort),
    log: silentLogger(),
  });
  const port = await freePort();
  await front.listen(port, ['127.0.0.1']);
  return { port, close: () => front.close(0) };
}

/** A TlsFront (h2 and http/1.1) serving the generation's `tls CERT KEY` certificates. */
export async function serveHttps(handler: RequestHandler, gen: Generation, configPort: number): Promise<Served> {
  const front = new TlsFront({
    certificates: {
      secureContextFor: (name: string): Promise<SecureContext | undefined> => Promise.resolve(gen.manualFor(name)),
      loadedContextFor: (name: string) => gen.manualFor(name),
    },
    challenges: { challengeContextFor: () => Promise.resolve(undefined) },
    onRequest: (req, res) => void handler.handle(req, res, 'https', configPort),
    onUpgrade: (req, socket, head) => void handler.upgrade(req, socket, head, 'https', configPort),
    log: silentLogger(),
  });
  const port = await freePort();
  await front.listen(port, ['127.0.0.1']);
  return { port, close: () => front.close(0) };
}

export interface RawReply {
  /** 0 when nothing came back. */
  readonly status: number;
  readonly head: string;
  readonly body: string;
  /** The whole text received. */
  readonly text: string;
  /** The server closed the connection (within the wait). */
  readonly closed: boolean;
}

/**
 * Writes `request` as is on a new connection (TLS with SNI `servername` when given) and collects
 * what comes back until the server closes, or until `waitMs` passes after the first byte (or
 * without any byte). Several requests are written one after another, each once the previous one's
 * status line has come back (not pipelined).
 */
export function rawRequest(port: number, request: string | readonly string[], o: { servername?: string; waitMs?: number } = {}): Promise<RawReply> {
  const requests = typeof request === 'string' ? [request] : [...request];
  const waitMs = o.waitMs ?? 3_000;
  return new Promise((resolve) => {
    const socket =
      o.servername === undefined
        ? net.connect(port, '127.0.0.1')
        : tls.connect({ host: '127.0.0.1', port, servername: o.servername, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
    let text = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const split = text.indexOf('\r\n\r\n');
      const head = split < 0 ? text : text.slice(0, split);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, head, body: split < 0 ? '' : text.slice(split + 4), text, closed });
    };
    let timer = setTimeout(() => finish(false), waitMs);
    socket.setEncoding('latin1');
    let sent = 0;
    const writeNext = (): void => void socket.write(requests[sent++]!);
    socket.on(o.servername === undefined ? 'connect' : 'secureConnect', writeNext);
    socket.on('data', (d: string) => {
      text += d;
      if (sent < requests.length && (text.match(/^HTTP\/1\.[01] \d{3}/gm) ?? []).length >= sent) writeNext();
      // Once an answer is there, a keep-alive connection would stay open: wait a little for more.
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), Math.min(waitMs, 300));
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

/** The value of header `name` in a raw head, or undefined. */
export function headerOf(head: string, name: string): string | undefined {
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(line.indexOf(':') + 1).trim();
}

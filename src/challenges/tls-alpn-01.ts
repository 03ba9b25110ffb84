/**
 * TLS-ALPN-01 (RFC 8737): the CA opens a TLS connection offering only the "acme-tls/1" protocol,
 * with SNI naming the identifier, and expects the validation certificate.
 *
 * RFC 8737 §3: "Once this certificate has been created, it MUST be provisioned such that it is
 * returned during a TLS handshake that contains an ALPN extension containing the value
 * 'acme-tls/1' and a Server Name Indication [RFC6066] extension containing the domain name being
 * validated."
 */
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { MyServerError } from '../errors.ts';
import type { ChallengeStore } from './challenge-store.ts';
import { identifierForServerName, identifierKey } from './identifiers.ts';
import type { ChallengeInfo, Solver } from './solver.ts';

/** RFC 8737 §6.2: the ALPN protocol ID. */
export const ACME_TLS_ALPN_PROTOCOL = 'acme-tls/1';

/**
 * Contexts built per instance for challenges of the whole cluster. Bounded so names asked about
 * once by other instances' CAs cannot pile up; far above the number of challenges in flight.
 */
const MAX_CACHED_CONTEXTS = 1000;

/**
 * Answers TLS-ALPN-01 challenges from a ChallengeStore. The store keeps only the key
 * authorization; each instance makes its own validation certificate from it, so the certificate's
 * private key never goes to storage. Concurrent handshakes for one name share one certificate.
 */
export class TlsAlpn01Solver implements Solver {
  readonly #store: ChallengeStore;
  readonly #contexts = new Map<string, { keyAuthorization: string; context: Promise<SecureContext> }>();

  constructor(options: { readonly store: ChallengeStore }) {
    this.#store = options.store;
  }

  async present(challenge: ChallengeInfo, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new MyServerError('MS_ERR_ABORTED', 'presenting tls-alpn-01 challenge', { cause: signal.reason });
    const name = identifierKey(challenge.identifier);
    if (name === undefined) {
      throw new MyServerError('MS_ERR_CHALLENGE_FAILED', `invalid tls-alpn-01 identifier ${JSON.stringify(challenge.identifier.value)}`);
    }
    await this.#store.put('tls-alpn-01', name, { keyAuthorization: challenge.keyAuthorization, identifier: challenge.identifier });
    // Build the certificate now so the CA's first handshake does not wait for it.
    await this.#contextFor(name, challenge.identifier, challenge.keyAuthorization);
  }

  async cleanup(challenge: ChallengeInfo): Promise<void> {
    const name = identifierKey(challenge.identifier);
    if (name === undefined) return;
    this.#contexts.delete(name);
    await this.#store.delete('tls-alpn-01', name);
  }

  /**
   * The SecureContext with the validation certificate for an SNI server name (a DNS name, or the
   * in-addr.arpa / ip6.arpa name of an IP identifier), or undefined when no challenge is pending
   * for it. Rejects only when storage or certificate creation fails.
   */
  async challengeContextFor(servername: string): Promise<SecureContext | undefined> {
    const name = identifierForServerName(servername);
    if (name === undefined) return undefined;
    const pending = await this.#store.get('tls-alpn-01', name);
    if (pending === undefined) {
      this.#contexts.delete(name);
      return undefined;
    }
    return this.#contextFor(name, pending.identifier, pending.keyAuthorization);
  }

  #contextFor(name: string, identifier: ChallengeInfo['identifier'], keyAuthorization: string): Promise<SecureContext> {
    const cached = this.#contexts.get(name);
    if (cached !== undefined && cached.keyAuthorization === keyAuthorization) return cached.context;
    // Dynamic: @peculiar/x509 is loaded at the first TLS-ALPN-01 challenge, not at start.
    const context = import('../x509/tls-alpn-01.ts').then(({ createTlsAlpnChallengeCertificate }) => createTlsAlpnChallengeCertificate(identifier, keyAuthorization)).then(({ certPem, keyPem }) =>
      createSecureContext({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' }),
    );
    // A failed build is not cached: the next handshake tries again.
    context.catch(() => {
      if (this.#contexts.get(name)?.context === context) this.#contexts.delete(name);
    });
    this.#contexts.delete(name);
    this.#contexts.set(name, { keyAuthorization, context });
    if (this.#contexts.size > MAX_CACHED_CONTEXTS) {
      const oldest = this.#contexts.keys().next().value;
      if (oldest !== undefined) this.#contexts.delete(oldest);
    }
    return context;
  }
}

/** Where the TLS options find the challenge certificate: a TlsAlpn01Solver, or anything shaped like one. */
export interface ChallengeContextSource {
  challengeContextFor(servername: string): Promise<SecureContext | undefined>;
}

export interface AcmeTlsServerOptions {
  readonly solver: ChallengeContextSource;
  /**
   * The context for ordinary handshakes. Undefined from it means "not ours": the handshake is
   * refused with an alert. Without this function, only acme-tls/1 handshakes succeed.
   */
  readonly getSecureContext?: (servername: string) => Promise<SecureContext | undefined>;
  /** The application protocols the server speaks, in preference order (e.g. ['h2', 'http/1.1']). */
  readonly alpnProtocols: readonly string[];
  /** Told why a handshake is refused (no certificate, no pending challenge, a failed lookup). */
  readonly onRefused?: (servername: string, reason: Error) => void;
}

/** Printable ASCII, no space: the alphabet any host name or IP literal in SNI is written in. */
const SNI_BYTES = /^[\x21-\x7e]{1,255}$/;

type AlpnCallback = (this: TLSSocket, arg: { servername: string; protocols: string[] }) => string | undefined;
type SniCallback = (this: TLSSocket, servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

/**
 * `ALPNCallback` and `SNICallback` for tls.createServer that route acme-tls/1 handshakes to the
 * challenge certificate and all others to `getSecureContext`.
 *
 * SNICallback does not see the client's ALPN list. On Node 24 the server's ALPNCallback runs
 * before SNICallback, both with the TLSSocket as `this`, so ALPNCallback notes acme-tls/1 hellos
 * in a WeakSet (per call of this function, dropped with the socket) and SNICallback reads it.
 * (test/unit/challenges/tls-alpn-01.test.ts checks the order on the running Node.)
 *
 * ALPNCallback: a hello offering acme-tls/1 with SNI gets acme-tls/1; one offering it without SNI
 * is refused (there is no name to validate, and it must not get an ordinary certificate);
 * otherwise the first of `alpnProtocols` the client offers. When none matches it returns
 * undefined, which Node turns into a fatal no_application_protocol alert, the same outcome as
 * Node's own `ALPNProtocols` option. Clients sending no ALPN extension never reach ALPNCallback.
 *
 * SNICallback: an acme-tls/1 hello gets the challenge context or, with none pending, a context
 * without a certificate, so the handshake fails with a handshake_failure alert (the server itself
 * must have no default certificate: Node keeps the default one when the chosen context has none); acme-tls/1 hellos never get an ordinary certificate. Every path ends in
 * exactly one `cb` call, even if a lookup throws: a throwing SNICallback crashed Node before
 * 24.14.1 (CVE-2026-21637).
 */
export function createAcmeTlsServerOptions(options: AcmeTlsServerOptions): { ALPNCallback: AlpnCallback; SNICallback: SniCallback } {
  const acmeHellos = new WeakSet<TLSSocket>();
  const { solver, getSecureContext, alpnProtocols } = options;

  const ALPNCallback: AlpnCallback = function (this: TLSSocket, { servername, protocols }) {
    if (protocols.includes(ACME_TLS_ALPN_PROTOCOL)) {
      if (!servername) return undefined;
      acmeHellos.add(this);
      return ACME_TLS_ALPN_PROTOCOL;
    }
    return alpnProtocols.find((p) => protocols.includes(p));
  };

  // A context with no certificate: handed to a handshake we refuse, OpenSSL ends it with a fatal
  // handshake_failure alert. cb(err) would drop the connection with no alert at all (the client
  // sees a bare EOF), and cb(null, undefined) would fall back to the server's default context.
  const refuse = createSecureContext({ minVersion: 'TLSv1.2' });
  const SNICallback: SniCallback = function (this: TLSSocket, servername, cb) {
    let settled = false;
    const done = (err: Error | null, ctx?: SecureContext): void => {
      if (settled) return;
      settled = true;
      cb(err, err ? undefined : ctx);
    };
    const fail = (err: unknown): void => {
      options.onRefused?.(servername, err instanceof Error ? err : new MyServerError('MS_ERR_CHALLENGE_FAILED', String(err)));
      done(null, refuse);
    };
    try {
      // Node hands over the SNI bytes as latin1 (OpenSSL itself refuses a NUL): a UTF-8 name comes
      // as "bÃ¼cher.test", a space stays a space. RFC 6066 §3 allows ASCII only, so any byte
      // outside printable ASCII refuses the whole name before a lookup sees it.
      if (!SNI_BYTES.test(servername)) {
        fail(new MyServerError('MS_ERR_NOT_FOUND', `SNI ${JSON.stringify(servername)} is not an ASCII host name (RFC 6066 §3)`));
        return;
      }
      if (acmeHellos.has(this)) {
        solver.challengeContextFor(servername).then((ctx) => {
          if (ctx !== undefined) done(null, ctx);
          else fail(new MyServerError('MS_ERR_NOT_FOUND', `no tls-alpn-01 challenge pending for ${JSON.stringify(servername)}`));
        }, fail);
      } else if (getSecureContext !== undefined) {
        getSecureContext(servername).then((ctx) => (ctx !== undefined ? done(null, ctx) : fail(new MyServerError('MS_ERR_NOT_FOUND', `no certificate for ${JSON.stringify(servername)}`))), fail);
      } else {
        fail(new MyServerError('MS_ERR_NOT_FOUND', `this listener answers only acme-tls/1 (SNI ${JSON.stringify(servername)})`));
      }
    } catch (err) {
      fail(err);
    }
  };

  return { ALPNCallback, SNICallback };
}

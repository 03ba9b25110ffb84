import tls from 'node:tls';
import { LRUCache } from 'lru-cache';
import { freeSecureContext } from '../tls/context-free.ts';

/**
 * What a context is built from: a stored certificate (its `keyPem` and `chainPem`), or a user's
 * `tls CERT KEY` files as read. Compared by identity: another object (a renewal) is another context.
 */
export interface CertificatePems {
  readonly keyPem: string | Buffer;
  readonly chainPem: string | Buffer;
}

/**
 * How many certificates keep a built SecureContext ("hot"); every other loaded certificate is
 * "cold": only its PEM key and chain (~2.6 KiB with its Entry, the issuer part shared:
 * certificate-store.ts), built into a context again at the handshake that needs it.
 *
 * Why 256: a SecureContext holds an OpenSSL SSL_CTX of ~43 KiB (FACTS.md), so 256 hot contexts cost
 * at most ~11 MiB however many certificates are loaded (1,000 contexts would be ~42 MiB, more than
 * half of the idle budget of issue 12), which keeps 1,000 loaded certificates under Caddy's ~18 KiB
 * each. A cold hit costs one createSecureContext: ~0.4 ms of CPU on Node 24 (half of it
 * SSL_CTX_new itself, half parsing the P-256 key and chain; docs/benchmarks.md), a third of a full
 * handshake's CPU, and only full handshakes pay it (a resumption never asks for a context). 256
 * covers the names a server is busy with at any moment on all but the largest on-demand fleets;
 * those pay the rebuild only on names outside that working set.
 */
export const DEFAULT_HOT_CONTEXTS = 256;

/*
 * When an evicted context is freed. Between contextFor handing a context out and the handshake
 * taking it (`new TLSSocket` in tls-front's gate, or certCbDone after an SNICallback), only
 * promise continuations run: the lookup's chain of awaits, all microtasks of one macrotask. Once
 * taken, the handshake's SSL holds its own reference to the SSL_CTX, so freeing ours is safe (as it
 * always was for the connections that outlive an eviction). So an evicted context that was handed
 * out is freed at the next turn of the event loop (setImmediate), after those microtasks.
 *
 * Why not later: freeing explicitly is what bounds the memory (V8 does not see the SSL_CTX's size,
 * so it collects evicted contexts late, and by then malloc has spread them over pages it keeps).
 * A one-second grace kept a second's worth of evicted contexts alive: loading 1,000 stored
 * certificates at ~480 a second held ~480 retired SSL_CTXs (~20 MiB) on top of the 256 hot ones,
 * and glibc's main arena grew by all of them (issue 12, design.md "Retiring evicted contexts").
 */

interface Hot {
  /** The certificate the context was built from: a renewal installs another object. */
  readonly cert: CertificatePems;
  readonly context: tls.SecureContext;
  /**
   * Whether contextFor has returned it: only then can a handshake be about to install it. One
   * only ever built by install() (a certificate loaded, never asked for since) is freed at once
   * when evicted, without waiting for the next turn of the event loop.
   */
  handedOut: boolean;
}

/**
 * The one place SecureContexts of managed, on-demand and user-managed (`tls CERT KEY`) certificates
 * are built and kept: a bounded LRU keyed by certificate name (an entry's `name`, which may be a
 * wildcard; for user files, their paths). The manager has one, each config generation one. Not safe across
 * threads; all callers share one event loop. A context handed out and evicted stays valid until
 * the next turn of the event loop; a handshake that has taken it by then (its SSL holds a reference
 * to the SSL_CTX) finishes with it.
 */
export class ContextCache {
  readonly #hot: LRUCache<string, Hot>;
  readonly #options: tls.SecureContextOptions;
  /** Evicted contexts waiting to be freed, all by one setImmediate. */
  #retired: tls.SecureContext[] = [];
  #retireImmediate: NodeJS.Immediate | undefined;
  #built = 0;

  constructor(
    o: { readonly max?: number | undefined; readonly contextOptions?: tls.SecureContextOptions | undefined } = {},
  ) {
    const max = o.max ?? DEFAULT_HOT_CONTEXTS;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`hot context bound: expected a positive integer, got ${max}`);
    this.#hot = new LRUCache<string, Hot>({ max, dispose: (hot) => (hot.handedOut ? this.#retire(hot.context) : freeSecureContext(hot.context)) });
    this.#options = o.contextOptions ?? {};
  }

  /**
   * Builds the context for `cert` now (so a key that does not match its chain fails here, where
   * the certificate is installed, not at a handshake) and keeps it hot.
   */
  install(name: string, cert: CertificatePems): tls.SecureContext {
    // Returned for tests to observe; a handshake must get its context from contextFor, since an
    // evicted context only installed is freed at once.
    return this.#build(name, cert);
  }

  /** The context of `cert` for `name`: the hot one, or a new one built from the PEMs (a cold hit). */
  contextFor(name: string, cert: CertificatePems): tls.SecureContext {
    const hit = this.#hot.get(name);
    if (hit !== undefined && hit.cert === cert) {
      hit.handedOut = true;
      return hit.context;
    }
    const context = this.#build(name, cert);
    this.#hot.peek(name)!.handedOut = true;
    return context;
  }

  /**
   * Forgets `name`'s context if it was built from `cert` (the certificate is no longer loaded); one
   * built since from another certificate of the same name stays.
   */
  forget(name: string, cert: CertificatePems): void {
    if (this.#hot.peek(name)?.cert === cert) this.#hot.delete(name);
  }

  clear(): void {
    this.#hot.clear();
  }

  /** Contexts held now; never more than the bound. */
  get size(): number {
    return this.#hot.size;
  }

  get max(): number {
    return this.#hot.max;
  }

  /** Contexts built so far (installs and cold hits): what a test or a metric counts rebuilds by. */
  get built(): number {
    return this.#built;
  }

  /** Evicted, replaced or forgotten: freed once no lookup can still be about to install it. */
  #retire(context: tls.SecureContext): void {
    this.#retired.push(context);
    if (this.#retireImmediate !== undefined) return;
    this.#retireImmediate = setImmediate(() => {
      this.#retireImmediate = undefined;
      const batch = this.#retired;
      this.#retired = [];
      for (const c of batch) freeSecureContext(c);
    });
    this.#retireImmediate.unref();
  }

  #build(name: string, cert: CertificatePems): tls.SecureContext {
    const context = tls.createSecureContext({ ...this.#options, key: cert.keyPem, cert: cert.chainPem });
    this.#built++;
    this.#hot.set(name, { cert, context, handedOut: false });
    return context;
  }
}

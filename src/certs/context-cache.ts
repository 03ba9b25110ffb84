import tls from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { StoredCertificate } from './certificate-store.ts';

/**
 * How many certificates keep a built SecureContext ("hot"); every other loaded certificate is
 * "cold": only its PEM key and chain (a few KiB on its Entry), built into a context again at the
 * handshake that needs it.
 *
 * Why 256: a SecureContext holds an OpenSSL SSL_CTX of ~43 KiB (FACTS.md), so 256 hot contexts cost
 * at most ~11 MiB however many certificates are loaded (1,000 contexts would be ~42 MiB, more than
 * half of the idle budget of issue 12), while a cold hit costs one createSecureContext (parsing a
 * P-256 key and a two-certificate chain: ~0.1–0.2 ms of CPU, see docs/benchmarks.md), about a tenth
 * of a full handshake. 256 covers the names a server is busy with at any moment on all but the
 * largest on-demand fleets; those pay the rebuild only on names outside that working set.
 */
export const DEFAULT_HOT_CONTEXTS = 256;

interface Hot {
  /** The certificate the context was built from: a renewal installs another object. */
  readonly cert: StoredCertificate;
  readonly context: tls.SecureContext;
}

/**
 * The one place SecureContexts of managed and on-demand certificates are built and kept: a bounded
 * LRU keyed by certificate name (an entry's `name`, which may be a wildcard). Not safe across
 * threads; all callers share one event loop. A context handed out stays valid after eviction: a
 * handshake that holds it finishes with it.
 */
export class ContextCache {
  readonly #hot: LRUCache<string, Hot>;
  readonly #options: tls.SecureContextOptions;
  #built = 0;

  constructor(o: { readonly max?: number | undefined; readonly contextOptions?: tls.SecureContextOptions | undefined } = {}) {
    const max = o.max ?? DEFAULT_HOT_CONTEXTS;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`hot context bound: expected a positive integer, got ${max}`);
    this.#hot = new LRUCache<string, Hot>({ max });
    this.#options = o.contextOptions ?? {};
  }

  /**
   * Builds the context for `cert` now (so a key that does not match its chain fails here, where
   * the certificate is installed, not at a handshake) and keeps it hot.
   */
  install(name: string, cert: StoredCertificate): tls.SecureContext {
    return this.#build(name, cert);
  }

  /** The context of `cert` for `name`: the hot one, or a new one built from the PEMs (a cold hit). */
  contextFor(name: string, cert: StoredCertificate): tls.SecureContext {
    const hit = this.#hot.get(name);
    if (hit !== undefined && hit.cert === cert) return hit.context;
    return this.#build(name, cert);
  }

  /**
   * Forgets `name`'s context if it was built from `cert` (the certificate is no longer loaded); one
   * built since from another certificate of the same name stays.
   */
  forget(name: string, cert: StoredCertificate): void {
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

  #build(name: string, cert: StoredCertificate): tls.SecureContext {
    const context = tls.createSecureContext({ ...this.#options, key: cert.keyPem, cert: cert.chainPem });
    this.#built++;
    this.#hot.set(name, { cert, context });
    return context;
  }
}

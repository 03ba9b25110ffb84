import type { SecureContext } from 'node:tls';
import type { CertificateSource } from './tls-front.ts';

/** Caddy's `default_sni` and `fallback_sni`, read at each handshake so a reload changes them. */
export interface SniDefaults {
  readonly defaultSni?: string;
  readonly fallbackSni?: string;
}

/**
 * `source` with Caddy's two SNI substitutes (certmagic's DefaultServerName and FallbackServerName):
 * - a client that sends no SNI gets the certificate loaded for the address it connected to (IP
 *   sites), else the one loaded for `default_sni`;
 * - a client whose SNI names no certificate we have or can get (on-demand issuance included, which
 *   the source runs first) gets the certificate of `fallback_sni`.
 * Both only serve what is loaded or obtainable for those names; with neither set, `source` as is.
 */
export function withSniDefaults(source: CertificateSource, defaults: () => SniDefaults): CertificateSource {
  return {
    secureContextFor(servername: string): Promise<SecureContext | undefined> {
      const found = source.secureContextFor(servername);
      // Every handshake comes through here: without fallback_sni, no second promise.
      if (defaults().fallbackSni === undefined) return found;
      return found.then((ctx) => {
        const fallback = defaults().fallbackSni;
        return ctx !== undefined || fallback === undefined ? ctx : source.secureContextFor(fallback);
      });
    },
    loadedContextFor(name: string): SecureContext | undefined {
      const ctx = source.loadedContextFor(name);
      if (ctx !== undefined) return ctx;
      const fallback = defaults().defaultSni;
      return fallback !== undefined ? source.loadedContextFor(fallback) : undefined;
    },
  };
}

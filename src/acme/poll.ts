/**
 * How long to wait before the next poll of an ACME resource that is still pending or processing
 * (RFC 8555 §7.5.1: "Clients SHOULD NOT poll more frequently than is indicated by Retry-After"; absent
 * the header the pace is the client's).
 *
 * A Retry-After from the CA decides. Without one the wait starts short and doubles up to a cap:
 * Pebble, and Let's Encrypt for most names, settle a validation or an issuance within tens to
 * hundreds of milliseconds, so a fixed 1 s wait (certbot's, and ours before) made an on-demand
 * first handshake wait ~1 s per poll for nothing. acmez (Caddy) polls every 250 ms; starting at
 * 50 ms and doubling reaches 250 ms by the third wait and spends at most 5 requests on the first
 * second, then settles at the cap, so a slow CA sees the same request rate as before.
 */

/** The first wait without Retry-After: one loopback or LAN round trip's worth of validation time. */
export const FIRST_POLL_MS = 50;
/** The cap of the doubling without Retry-After (the interval we used before, certbot's). */
export const MAX_POLL_INTERVAL_MS = 1_000;
/** A floor so that a Retry-After of 0 (or a date in the past) cannot turn polling into a tight loop. */
export const MIN_POLL_MS = 50;

/**
 * The wait before poll number `attempt + 1`, where `attempt` counts the waits already made in this
 * poll (0 for the first). `retryAfterMs` is the CA's Retry-After of the last response, if any;
 * `capMs` bounds the doubling (not a Retry-After: the CA may ask for longer).
 */
export function pollDelay(attempt: number, retryAfterMs: number | undefined, capMs: number = MAX_POLL_INTERVAL_MS): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs)) return Math.max(retryAfterMs, MIN_POLL_MS);
  const cap = Math.max(capMs, MIN_POLL_MS);
  // 2 ** 30 is far past any cap; bounding the exponent keeps the arithmetic finite.
  return Math.min(FIRST_POLL_MS * 2 ** Math.min(Math.max(attempt, 0), 30), cap);
}

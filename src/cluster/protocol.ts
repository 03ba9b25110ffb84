/**
 * Messages between the primary and its workers (`workers N`), over node:cluster's IPC channel.
 * Every message has a `t` naming it; anything else on the channel (node:cluster's own, prom-client's
 * metrics requests) is not ours and is ignored by isOurs().
 */

/** Primary → worker. */
export type ToWorker =
  /** The previous leader died: renew configured names and serve the admin API from now on. */
  | { readonly t: 'ms:lead' }
  /** Another worker stored certificates for these names: load them from storage now. */
  | { readonly t: 'ms:certs'; readonly names: readonly string[] }
  /** Apply a config: `text` (an admin /load), else the config file again. Answered by 'ms:reloaded'. */
  | { readonly t: 'ms:reload'; readonly seq: number; readonly text?: string }
  /**
   * The outcome of reload `seq` across all workers: `revert`, some worker failed, so one that applied
   * it goes back to the config it had before; otherwise it keeps the new one.
   */
  | { readonly t: 'ms:settle'; readonly seq: number; readonly revert: boolean }
  /** Stop gracefully, as on SIGTERM (the primary got SIGTERM or SIGINT). */
  | { readonly t: 'ms:stop' }
  /** This worker's metrics as prom-client JSON, for the primary to aggregate: answered by 'ms:metrics-json'. */
  | { readonly t: 'ms:metrics-json'; readonly seq: number }
  /** The answer to a worker's 'ms:fan-out' or 'ms:metrics'. */
  | { readonly t: 'ms:done'; readonly seq: number; readonly error?: string; readonly body?: string };

/** Worker → primary. */
export type ToPrimary =
  /** The worker's message handler is installed: it can be sent anything from now on. */
  | { readonly t: 'ms:hello' }
  /** The worker has bound its listeners and serves. */
  | { readonly t: 'ms:serving' }
  /** This worker stored certificates for these names (an issuance or a renewal). */
  | { readonly t: 'ms:certs'; readonly names: readonly string[] }
  | { readonly t: 'ms:reloaded'; readonly seq: number; readonly error?: string }
  /** The leader's admin API applied a config: apply it in every other worker. */
  | { readonly t: 'ms:fan-out'; readonly seq: number; readonly text?: string }
  /** Every worker's metrics, aggregated (an admin or site /metrics request here): answered by 'ms:done' with the text. */
  | { readonly t: 'ms:metrics'; readonly seq: number }
  | { readonly t: 'ms:metrics-json'; readonly seq: number; readonly metrics?: unknown[]; readonly error?: string }
  /** A reload of every worker from the config file (SIGHUP sent to a worker). */
  | { readonly t: 'ms:reload-all' };

export function isOurs<T extends { t: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { t?: unknown }).t === 'string' && (message as { t: string }).t.startsWith('ms:');
}

/** The environment the primary gives each worker: its slot (1..N, kept by a replacement) and whether it leads. */
export const WORKER_ID_ENV = 'MY_SERVER_WORKER_ID';
export const WORKER_LEADER_ENV = 'MY_SERVER_WORKER_LEADER';
/**
 * `primary`: the workers do not bind with SO_REUSEPORT; node:cluster's primary accepts and hands out
 * connections, as it does anyway where the kernel refuses SO_REUSEPORT (docs/clustering.md).
 */
export const DISTRIBUTION_ENV = 'MY_SERVER_WORKERS_DISTRIBUTION';

/** What sendMessage needs of a ChildProcess (a worker's, for the primary) or of a worker's `process`. */
export interface MessageChannel {
  readonly connected: boolean;
  send?(message: unknown, sendHandle: undefined, options: object, callback: (err: Error | null) => void): boolean;
}

/**
 * Sends `message` if the channel is open, reporting a failed write to `onError`. The peer can die
 * between the connected check and the write (a kill -9 the primary has not seen yet): the write
 * then fails with EPIPE, and without a callback Node emits it as an 'error' event, which, with no
 * listener, killed the primary and with it every worker. What was not delivered needs no retry:
 * the primary restarts a dead worker from storage and the config, and a worker whose primary is
 * gone is stopping.
 */
export function sendMessage(channel: MessageChannel, message: ToWorker | ToPrimary, onError: (err: Error) => void): void {
  if (!channel.connected || channel.send === undefined) return;
  channel.send(message, undefined, {}, (err) => {
    if (err) onError(err);
  });
}

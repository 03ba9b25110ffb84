import type { Config } from '../config/types.ts';
import { serverOptionsFor } from '../http/client-ip.ts';
import { connectionLimits, type ConnectionLimits } from '../util/timeouts.ts';
import type { ListenerKey } from './generation.ts';
import type { ReloadPlan } from './plan.ts';

/** What a listener front (tls/tls-front.ts, http/http-front.ts) offers the app. */
export interface Listening {
  listen(port: number, hosts: readonly (string | undefined)[]): Promise<void>;
  close(graceMs: number): Promise<void>;
  /** The listener's `servers` options as they stand in the config being applied. */
  configure(limits: ConnectionLimits): void;
}

/**
 * The listeners of the running config, by id (`https:443@127.0.0.1`, plan.ts). A reload opens the
 * ones its plan adds before anything else changes, and closes the ones it drops only once those
 * are bound; on a bind failure, what it opened is closed again and the running set is untouched.
 */
export class Listeners<F extends { readonly front: Listening }> {
  readonly #fronts = new Map<string, F>();
  readonly #ports = new Map<string, number>();
  readonly #make: (l: ListenerKey, limits: ConnectionLimits) => F;

  constructor(make: (l: ListenerKey, limits: ConnectionLimits) => F) {
    this.#make = make;
  }

  ids(): string[] {
    return [...this.#fronts.keys()];
  }

  async bind(listeners: ReloadPlan['listeners'], config: Config): Promise<void> {
    const binds = config.globals.defaultBind.length > 0 ? config.globals.defaultBind : [undefined];
    const opened: string[] = [];
    try {
      for (const [id, l] of listeners.open) {
        if (this.#fronts.has(id)) continue;
        const front = this.#make(l, connectionLimits(serverOptionsFor(config.globals.servers, l.port)));
        this.#fronts.set(id, front);
        this.#ports.set(id, l.port);
        opened.push(id);
        await front.front.listen(l.port, binds);
      }
    } catch (err) {
      for (const id of opened) {
        await this.#fronts.get(id)?.front.close(0);
        this.#fronts.delete(id);
        this.#ports.delete(id);
      }
      throw err;
    }
    // Timeouts follow a reload on listeners kept open too (max_header_size only on new ones).
    for (const [id, f] of this.#fronts) f.front.configure(connectionLimits(serverOptionsFor(config.globals.servers, this.#ports.get(id) ?? 0)));
    for (const id of listeners.close) {
      const f = this.#fronts.get(id);
      this.#fronts.delete(id);
      this.#ports.delete(id);
      // Requests in flight on a dropped listener get the grace period to finish.
      void f?.front.close(config.globals.gracePeriodMs);
    }
  }

  async close(graceMs: number): Promise<void> {
    const fronts = [...this.#fronts.values()];
    this.#fronts.clear();
    await Promise.all(fronts.map((f) => f.front.close(graceMs)));
  }
}

import { AdminServer, type AdminApp } from '../admin/admin-server.ts';
import type { CertificateStatus } from '../certs/lifecycle.ts';
import type { GlobalOptions } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics/metrics.ts';

export interface AdminApiOptions {
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly load: AdminApp['load'];
  readonly reload: AdminApp['reload'];
  /** The lifecycle of every certificate name served now (CertificateManager.lifecycle). */
  readonly certificates: () => readonly CertificateStatus[];
}

/** The admin API of the running config: started with it, moved by a reload that changes `admin`. */
export class AdminApi {
  readonly #o: AdminApiOptions;
  #server: AdminServer | undefined;
  #closed = false;

  constructor(options: AdminApiOptions) {
    this.#o = options;
  }

  /** Binds `admin` (nothing for `admin off`); rejects with MS_ERR_LISTEN when it cannot. */
  async start(admin: GlobalOptions['admin']): Promise<void> {
    if (admin === false || this.#closed) return;
    const o = this.#o;
    this.#server = new AdminServer({
      address: admin.address,
      metrics: o.metrics,
      log: o.log,
      app: {
        load: o.load,
        reload: o.reload,
        certificates: () => Promise.resolve([...o.certificates()]),
      },
    });
    await this.#server.listen();
  }

  /**
   * Closes the running API and starts it on `admin`, in the background: /load runs inside the admin
   * server, whose close waits for that request. A failure is logged; the config stays applied.
   */
  move(admin: GlobalOptions['admin']): void {
    setImmediate(() => {
      void (async () => {
        await this.#server?.close();
        this.#server = undefined;
        await this.start(admin).catch((err: unknown) => this.#o.log.error({ err }, 'starting the admin API after reload failed'));
      })();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#server?.close();
  }
}

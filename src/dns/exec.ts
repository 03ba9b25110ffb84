/**
 * lego's `exec` provider: a user's program writes the records, so any DNS host can be scripted.
 * Called as lego calls it (default mode): `PROGRAM [ARGS…] present FQDN VALUE` and
 * `PROGRAM [ARGS…] cleanup FQDN VALUE`, FQDN with its trailing dot; exit 0 means done.
 */
import { execFile } from 'node:child_process';
import { MyServerError } from '../errors.ts';
import { absoluteName, type DnsProvider, type DnsRecord } from './provider.ts';

export interface ExecOptions {
  readonly program: string;
  readonly args?: readonly string[];
  /** Per call. Default 2 minutes: a script may wait for its DNS host's API. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;
/** Of the program's output kept for the error message. */
const OUTPUT_LIMIT = 2_000;

export class ExecProvider implements DnsProvider {
  readonly name = 'exec';
  readonly #o: ExecOptions;

  constructor(options: ExecOptions) {
    this.#o = options;
  }

  async appendRecords(zone: string, records: readonly DnsRecord[], signal?: AbortSignal): Promise<void> {
    for (const r of records) await this.#run('present', zone, r, signal);
  }

  async deleteRecords(zone: string, records: readonly DnsRecord[], signal?: AbortSignal): Promise<void> {
    for (const r of records) await this.#run('cleanup', zone, r, signal);
  }

  #run(mode: 'present' | 'cleanup', zone: string, record: DnsRecord, signal: AbortSignal | undefined): Promise<void> {
    const fqdn = `${absoluteName(record, zone)}.`;
    const args = [...(this.#o.args ?? []), mode, fqdn, record.value];
    return new Promise((resolve, reject) => {
      execFile(
        this.#o.program,
        args,
        { timeout: this.#o.timeoutMs ?? DEFAULT_TIMEOUT_MS, maxBuffer: 1 << 20, ...(signal ? { signal } : {}) },
        (err, stdout, stderr) => {
          if (err === null) return resolve();
          const output = `${stderr}${stdout}`.trim().slice(-OUTPUT_LIMIT);
          const how = typeof err.code === 'number' ? `exited with status ${err.code}` : err.signal ? `was killed by ${err.signal}` : err.message;
          reject(new MyServerError('MS_ERR_CHALLENGE_FAILED', `exec provider: ${this.#o.program} ${mode} ${fqdn} ${how}${output ? `: ${output}` : ''}`, { cause: err }));
        },
      );
    });
  }
}

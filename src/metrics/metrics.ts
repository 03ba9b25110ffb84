import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../log.ts';
import { MyServerError, causeChain, type ErrorCode } from '../errors.ts';
import { ACME_ERROR_NS, findProblem } from '../acme/problem.ts';
import { subscribe, unsubscribe, type EventName, type Subscriber } from '../diagnostics.ts';
import { LabelGuard, OTHER, codeLabel, methodLabel, protocolLabel } from './label-guard.ts';
import { CertificateSeries, DEFAULT_CERTIFICATE_SERIES_LIMIT, type CertificateSource } from './certificate-series.ts';

export interface MetricsOptions {
  readonly log?: Logger;
  /**
   * Most distinct values kept per bounded label (site, upstream, certificate name, issuer, CA).
   * Past it, counters count under "other" and gauges drop the new series, with one warning.
   */
  readonly maxLabelValues?: number;
  /** Also export Node's process metrics (prom-client's default metrics); default true. */
  readonly processMetrics?: boolean;
  /** The per-certificate lifecycle, read at each scrape (certificate-series.ts). */
  readonly certificates?: CertificateSource;
}

/** What the running config holds, for configure(). */
export interface MetricsScope {
  /** Every configured upstream as "host:port" or "unix//path". */
  readonly upstreams?: Iterable<string>;
  /** Names whose certificates are loaded now; expiry series of other names are removed. */
  readonly certificates?: Iterable<string>;
  /** Most names with their own per-certificate lifecycle series; the rest are aggregated. */
  readonly certificateSeriesLimit?: number;
}

/**
 * A large enough default for any hand-written Proxyfile, small enough that a runaway label costs
 * a few hundred kilobytes rather than the process.
 */
const DEFAULT_MAX_LABEL_VALUES = 1000;

/**
 * Short names of RFC 8555 §6.7 error types, plus alreadyReplaced (RFC 9773) and invalidProfile
 * (draft-ietf-acme-profiles). A CA may invent more under the namespace; those count as "other"
 * so that a CA cannot grow the label without bound.
 */
const ACME_ERROR_TYPES = new Set([
  'accountDoesNotExist', 'alreadyReplaced', 'alreadyRevoked', 'badCSR', 'badNonce', 'badPublicKey',
  'badRevocationReason', 'badSignatureAlgorithm', 'caa', 'compound', 'connection', 'dns',
  'externalAccountRequired', 'incorrectResponse', 'invalidContact', 'invalidProfile', 'malformed',
  'orderNotReady', 'rateLimited', 'rejectedIdentifier', 'serverInternal', 'tls', 'unauthorized',
  'unsupportedContact', 'unsupportedIdentifier', 'userActionRequired',
]);

/** Labels for failures that are not a CA's problem document, most specific first. */
const ERROR_CODE_LABELS: readonly (readonly [ErrorCode, string])[] = [
  ['MS_ERR_ACME_NETWORK', 'network'],
  ['MS_ERR_ACME_TIMEOUT', 'timeout'],
  ['MS_ERR_ACME_PROTOCOL', 'protocol'],
  ['MS_ERR_CHALLENGE_FAILED', 'challenge'],
  ['MS_ERR_ABORTED', 'aborted'],
];

/**
 * The server's Prometheus metrics, fed by the events of src/diagnostics.ts rather than by calls
 * from the code that does the work: metrics only subscribes, and nothing imports metrics to count.
 *
 * Each instance owns its Registry, never prom-client's global one, so two servers in one process
 * keep separate metrics. The channels themselves are process-wide: a subscribed instance counts
 * the events of every server in the process. No label is taken from a client (no IP, no path, no
 * Host header); the bounded ones are capped by maxLabelValues besides.
 *
 * Create one per process and keep it across reloads: prom-client's process metrics start an event
 * loop monitor and a GC observer that live as long as the process.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #log: Logger | undefined;
  readonly #subscriptions: readonly (readonly [EventName, Subscriber])[];
  #subscribed = false;

  readonly #sites: LabelGuard;
  readonly #upstreams: LabelGuard;
  readonly #certNames: LabelGuard;
  readonly #issuers: LabelGuard;
  readonly #cas: LabelGuard;

  readonly #requests: Counter<'site' | 'method' | 'code'>;
  readonly #duration: Histogram<'site'>;
  readonly #upstreamHealthy: Gauge<'upstream'>;
  readonly #handshakes: Counter<'result' | 'protocol'>;
  readonly #obtained: Counter<'issuer'>;
  readonly #acmeCertificates: Counter<'ca'>;
  readonly #expiry: Gauge<'name'>;
  readonly #acmeErrors: Counter<'type'>;
  readonly #certificateSeries: CertificateSeries | undefined;

  constructor(options: MetricsOptions = {}) {
    this.#log = options.log;
    const max = options.maxLabelValues ?? DEFAULT_MAX_LABEL_VALUES;
    const guard = (label: string): LabelGuard =>
      new LabelGuard(max, () => this.#log?.warn({ label, max }, `metrics: more than ${max} values of label "${label}"; further ones are not recorded separately`));
    this.#sites = guard('site');
    this.#upstreams = guard('upstream');
    this.#certNames = guard('name');
    this.#issuers = guard('issuer');
    this.#cas = guard('ca');

    const registers = [this.registry];
    this.#requests = new Counter({
      name: 'my_server_requests_total',
      help: 'HTTP requests answered, by configured site, method and status code.',
      labelNames: ['site', 'method', 'code'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'my_server_request_duration_seconds',
      help: 'Time from a request to the end of its response, by configured site.',
      labelNames: ['site'],
      // prom-client's defaults, 5 ms to 10 s: a proxy's answers span local upstreams to slow ones.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#upstreamHealthy = new Gauge({
      name: 'my_server_upstream_healthy',
      help: 'Verdict of the active health check of a configured upstream: 1 healthy, 0 unhealthy.',
      labelNames: ['upstream'],
      registers,
    });
    this.#handshakes = new Counter({
      name: 'my_server_tls_handshakes_total',
      help: 'TLS handshakes, by result (ok or error) and protocol version.',
      labelNames: ['result', 'protocol'],
      registers,
    });
    this.#obtained = new Counter({
      name: 'my_server_certificates_obtained_total',
      help: 'Certificates obtained, by issuer (ACME directory URL or local).',
      labelNames: ['issuer'],
      registers,
    });
    this.#acmeCertificates = new Counter({
      name: 'my_server_acme_certificates_total',
      help: 'ACME orders that produced a certificate, by CA host.',
      labelNames: ['ca'],
      registers,
    });
    this.#expiry = new Gauge({
      name: 'my_server_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the certificate loaded for a name, in Unix seconds.',
      labelNames: ['name'],
      registers,
    });
    this.#acmeErrors = new Counter({
      name: 'my_server_acme_errors_total',
      help: 'Failed ACME issuance attempts, by ACME problem type (short name) or failure kind (network, timeout, protocol, challenge).',
      labelNames: ['type'],
      registers,
    });
    this.#certificateSeries = options.certificates === undefined ? undefined : new CertificateSeries(this.registry, options.certificates, DEFAULT_CERTIFICATE_SERIES_LIMIT, acmeErrorTypeOf);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });

    this.#subscriptions = [
      ['my-server:http:request', this.#guarded((m) => this.#onHttpRequest(m))],
      ['my-server:tls:handshake', this.#guarded((m) => this.#onHandshake(m))],
      ['my-server:cert:loaded', this.#guarded((m) => this.#onCertLoaded(m))],
      ['my-server:cert:obtained', this.#guarded((m) => this.#onCertObtained(m))],
      ['my-server:acme:certificate-obtained', this.#guarded((m) => this.#onAcmeCertificate(m))],
      ['my-server:acme:error', this.#guarded((m) => this.#onAcmeError(m))],
      ['my-server:upstream:healthy', this.#guarded((m) => this.#onUpstream(m, 1))],
      ['my-server:upstream:unhealthy', this.#guarded((m) => this.#onUpstream(m, 0))],
    ];
  }

  /** The Content-Type of text(): Prometheus text exposition format 0.0.4. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Starts counting events. Idempotent. */
  subscribe(): void {
    if (this.#subscribed) return;
    this.#subscribed = true;
    for (const [name, handler] of this.#subscriptions) subscribe(name, handler);
  }

  /** Stops counting events; the values recorded so far stay. Idempotent. */
  unsubscribe(): void {
    if (!this.#subscribed) return;
    this.#subscribed = false;
    for (const [name, handler] of this.#subscriptions) unsubscribe(name, handler);
  }

  /**
   * Aligns the gauges with the running config, on start and after each reload: upstreams new to
   * it start at 1 (an upstream is healthy until a check says otherwise, as UpstreamState starts),
   * and series of upstreams or certificate names that are gone are removed, so alerts do not fire
   * on what was deleted. A scope field left out leaves those series as they are.
   */
  configure(scope: MetricsScope): void {
    if (scope.upstreams !== undefined) {
      const keep = new Set(scope.upstreams);
      this.#prune(this.#upstreams, keep, (upstream) => this.#upstreamHealthy.remove({ upstream }));
      for (const upstream of keep) {
        if (this.#upstreams.has(upstream)) continue;
        if (this.#upstreams.admit(upstream) !== undefined) this.#upstreamHealthy.set({ upstream }, 1);
      }
    }
    if (scope.certificates !== undefined) {
      const keep = new Set(scope.certificates);
      this.#prune(this.#certNames, keep, (name) => this.#expiry.remove({ name }));
    }
    if (scope.certificateSeriesLimit !== undefined) this.#certificateSeries?.setLimit(scope.certificateSeriesLimit);
  }

  /** `workers N` (cluster/worker.ts): text() answers for every worker, aggregated by the primary. */
  #aggregated: (() => Promise<string>) | undefined;

  aggregateWith(text: () => Promise<string>): void {
    this.#aggregated = text;
  }

  /** Every metric in the Prometheus text exposition format. */
  text(): Promise<string> {
    return this.#aggregated?.() ?? this.registry.metrics();
  }

  /** Unsubscribes and drops every metric. */
  close(): void {
    this.unsubscribe();
    this.registry.clear();
  }

  /**
   * A throwing diagnostics_channel subscriber is rethrown on process.nextTick, which would crash
   * the server over a malformed event; a metric is never worth that.
   */
  #guarded(fn: (message: unknown) => void): Subscriber {
    return (message) => {
      try {
        fn(message);
      } catch (err) {
        this.#log?.warn({ err }, 'metrics: dropping an event that could not be recorded');
      }
    };
  }

  #prune(guard: LabelGuard, keep: ReadonlySet<string>, remove: (value: string) => void): void {
    for (const value of guard.values()) {
      if (keep.has(value)) continue;
      remove(value);
      guard.forget(value);
    }
  }

  #onHttpRequest(m: unknown): void {
    if (!isRecord(m)) return;
    const site = typeof m['site'] === 'string' ? (this.#sites.admit(m['site']) ?? OTHER) : OTHER;
    const method = typeof m['method'] === 'string' ? methodLabel(m['method']) : 'OTHER';
    const code = typeof m['status'] === 'number' ? codeLabel(m['status']) : OTHER;
    this.#requests.inc({ site, method, code });
    const ms = m['durationMs'];
    if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) this.#duration.observe({ site }, ms / 1000);
  }

  #onHandshake(m: unknown): void {
    if (!isRecord(m)) return;
    const result = m['result'];
    if (result !== 'ok' && result !== 'error') return;
    const protocol = typeof m['protocol'] === 'string' ? m['protocol'] : undefined;
    this.#handshakes.inc({ result, protocol: protocolLabel(protocol) });
  }

  #onCertLoaded(m: unknown): void {
    if (!isRecord(m) || typeof m['name'] !== 'string') return;
    const notAfter = m['notAfter'];
    if (!(notAfter instanceof Date) || Number.isNaN(notAfter.getTime())) return;
    const name = this.#certNames.admit(m['name']);
    if (name !== undefined) this.#expiry.set({ name }, notAfter.getTime() / 1000);
  }

  #onCertObtained(m: unknown): void {
    if (!isRecord(m)) return;
    const issuer = typeof m['issuer'] === 'string' ? (this.#issuers.admit(m['issuer']) ?? OTHER) : OTHER;
    this.#obtained.inc({ issuer });
  }

  #onAcmeCertificate(m: unknown): void {
    if (!isRecord(m)) return;
    const host = typeof m['orderUrl'] === 'string' ? URL.parse(m['orderUrl'])?.host : undefined;
    const ca = host === undefined || host === '' ? OTHER : (this.#cas.admit(host) ?? OTHER);
    this.#acmeCertificates.inc({ ca });
  }

  #onAcmeError(m: unknown): void {
    if (!isRecord(m)) return;
    this.#acmeErrors.inc({ type: acmeErrorType(m['error']) });
  }

  #onUpstream(m: unknown, value: 0 | 1): void {
    if (!isRecord(m) || typeof m['upstream'] !== 'string') return;
    const upstream = this.#upstreams.admit(m['upstream']);
    if (upstream !== undefined) this.#upstreamHealthy.set({ upstream }, value);
  }
}

/**
 * The acme_errors_total label of an issuance failure: the short name of the CA's problem type
 * (anywhere in the cause chain, since the flow wraps problems), else the kind of our own failure.
 */
export function acmeErrorType(err: unknown): string {
  const problem = findProblem(err);
  if (problem !== undefined) {
    const short = problem.type.startsWith(ACME_ERROR_NS) ? problem.type.slice(ACME_ERROR_NS.length) : '';
    return ACME_ERROR_TYPES.has(short) ? short : OTHER;
  }
  const codes = new Set<ErrorCode>();
  for (const cur of causeChain(err)) if (cur instanceof MyServerError) codes.add(cur.code);
  for (const [code, label] of ERROR_CODE_LABELS) if (codes.has(code)) return label;
  return OTHER;
}

/**
 * The same label for a failure already reduced to its problem type and innermost code (a
 * certificate's last error, certs/lifecycle.ts).
 */
export function acmeErrorTypeOf(e: { readonly type?: string | undefined; readonly code?: string | undefined }): string {
  if (e.type !== undefined) {
    const short = e.type.startsWith(ACME_ERROR_NS) ? e.type.slice(ACME_ERROR_NS.length) : '';
    return ACME_ERROR_TYPES.has(short) ? short : OTHER;
  }
  for (const [code, label] of ERROR_CODE_LABELS) if (e.code === code) return label;
  return OTHER;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

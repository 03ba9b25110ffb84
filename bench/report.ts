/**
 * Turns the measurements into the markdown table (rows: metric; columns: candidates and the
 * my-server/Caddy ratio) and the page written to docs/benchmarks.md.
 */
import type { CandidateId, Mode } from './candidates.ts';
import type { H2loadResult, HandshakeResult, WrkResult } from './load.ts';

/** Everything measured for one candidate in one mode; `failure` set when it did not start or serve. */
export interface CandidateResult {
  readonly id: CandidateId;
  readonly label: string;
  readonly version: string;
  readonly failure?: string;
  readonly idleRssKiB?: number;
  readonly wrk?: WrkResult;
  /** CPU seconds the candidate used during the measured wrk run. */
  readonly wrkCpuSeconds?: number;
  readonly h2?: H2loadResult;
  readonly handshake?: HandshakeResult | string;
  readonly handshakeServerCpuSeconds?: number;
  readonly peakRssKiB?: number;
  readonly manyCerts?: ManyCertsResult | string;
}

export interface ManyCertsResult {
  readonly sites: number;
  readonly startupSeconds: number;
  readonly rssKiB: number;
  /** Names whose handshake failed or served another name's certificate. */
  readonly failedNames: readonly string[];
}

export interface RunReport {
  readonly date: string;
  readonly mode: Mode;
  readonly machine: readonly [string, string][];
  readonly results: readonly CandidateResult[];
  readonly commands: readonly string[];
  readonly notes: readonly string[];
  readonly durationSeconds: number;
}

type Better = 'higher' | 'lower';

interface Row {
  readonly metric: string;
  readonly better: Better;
  /** Whether the issue sets a goal on this row's ratio (≥ 1.0 when higher is better, ≤ 1.0 otherwise). */
  readonly goal: boolean;
  readonly digits: number;
  /** The figure, or a string saying why there is none. */
  readonly value: (r: CandidateResult) => number | string | undefined;
}

const MiB = (kib: number | undefined): number | undefined => (kib === undefined ? undefined : kib / 1024);

function handshakeRate(r: CandidateResult): number | string | undefined {
  if (typeof r.handshake === 'string') return r.handshake;
  if (!r.handshake) return undefined;
  if (r.handshake.errors > r.handshake.handshakes / 100) return `${r.handshake.errors} failed handshakes`;
  if (r.handshake.resumed > 0) return `${r.handshake.resumed} resumed handshakes`;
  return r.handshake.handshakes / r.handshake.seconds;
}

function perServerCpu(r: CandidateResult): number | string | undefined {
  const rate = handshakeRate(r);
  if (typeof rate !== 'number' || !r.handshake || typeof r.handshake === 'string' || !r.handshakeServerCpuSeconds) return rate;
  return r.handshake.handshakes / r.handshakeServerCpuSeconds;
}

function manyCerts(r: CandidateResult, pick: (m: ManyCertsResult) => number): number | string | undefined {
  if (typeof r.manyCerts === 'string' || r.manyCerts === undefined) return r.manyCerts;
  if (r.manyCerts.failedNames.length > 0) return `${r.manyCerts.failedNames.length} of ${r.manyCerts.sites - 1} names not served their certificate`;
  return pick(r.manyCerts);
}

const ROWS: readonly Row[] = [
  { metric: 'HTTPS/1.1 keep-alive req/s (wrk)', better: 'higher', goal: true, digits: 0, value: (r) => r.wrk?.invalid ?? r.wrk?.requestsPerSecond },
  { metric: 'HTTPS/1.1 p50 latency, ms', better: 'lower', goal: false, digits: 2, value: (r) => r.wrk?.invalid ?? r.wrk?.p50Ms },
  { metric: 'HTTPS/1.1 p99 latency, ms', better: 'lower', goal: true, digits: 2, value: (r) => r.wrk?.invalid ?? r.wrk?.p99Ms },
  {
    metric: 'HTTPS/1.1 requests per proxy CPU-second',
    better: 'higher',
    goal: false,
    digits: 0,
    value: (r) => r.wrk?.invalid ?? (r.wrk && r.wrkCpuSeconds ? (r.wrk.requestsPerSecond * r.wrk.seconds) / r.wrkCpuSeconds : undefined),
  },
  { metric: 'HTTP/2 req/s (h2load)', better: 'higher', goal: true, digits: 0, value: (r) => r.h2?.invalid ?? r.h2?.requestsPerSecond },
  { metric: 'Full TLS handshakes/s', better: 'higher', goal: true, digits: 0, value: handshakeRate },
  { metric: 'Full TLS handshakes per proxy CPU-second', better: 'higher', goal: false, digits: 0, value: perServerCpu },
  { metric: 'RSS idle, 1 site, MiB', better: 'lower', goal: false, digits: 1, value: (r) => MiB(r.idleRssKiB) },
  { metric: 'Peak RSS under the loads above, MiB', better: 'lower', goal: true, digits: 1, value: (r) => MiB(r.peakRssKiB) },
  { metric: 'RSS with 1,000 certificates, MiB', better: 'lower', goal: true, digits: 1, value: (r) => manyCerts(r, (m) => m.rssKiB / 1024) },
  { metric: 'Start-up with 1,001 sites until serving, s', better: 'lower', goal: false, digits: 2, value: (r) => manyCerts(r, (m) => m.startupSeconds) },
];

function format(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The table, with footnotes for every cell that has no figure. */
export function renderTable(results: readonly CandidateResult[]): string {
  const footnotes: string[] = [];
  const cell = (r: CandidateResult, row: Row): { text: string; num?: number } => {
    const value = r.failure ? `did not start or serve: ${r.failure}` : row.value(r);
    if (typeof value === 'number' && Number.isFinite(value)) return { text: format(value, row.digits), num: value };
    const reason = typeof value === 'string' ? value : 'not measured';
    let index = footnotes.indexOf(`${r.label}: ${reason}`);
    if (index < 0) index = footnotes.push(`${r.label}: ${reason}`) - 1;
    return { text: `n/a[^${index + 1}]` };
  };
  const mine = results.find((r) => r.id === 'my-server');
  const caddy = results.find((r) => r.id === 'caddy');
  const header = `| metric | ${results.map((r) => r.label).join(' | ')} | my-server / Caddy | goal |`;
  const rule = `|---|${results.map(() => '---:').join('|')}|---:|:---:|`;
  const lines = ROWS.map((row) => {
    const cells = results.map((r) => cell(r, row));
    const m = mine ? cell(mine, row).num : undefined;
    const c = caddy ? cell(caddy, row).num : undefined;
    const ratio = m !== undefined && c !== undefined && c > 0 ? m / c : undefined;
    const target = row.better === 'higher' ? '≥ 1.0' : '≤ 1.0';
    const met = ratio === undefined ? '' : (row.better === 'higher' ? ratio >= 1 : ratio <= 1) ? ' ✓' : ' ✗';
    const goal = row.goal ? `${target}${met}` : `(${row.better} is better)`;
    return `| ${row.metric} | ${cells.map((x) => x.text).join(' | ')} | ${ratio === undefined ? 'n/a' : ratio.toFixed(2)} | ${goal} |`;
  });
  const notes = footnotes.map((f, i) => `[^${i + 1}]: ${f.replaceAll('\n', ' ')}`);
  return [header, rule, ...lines, '', ...notes].join('\n');
}

/** Raw counts behind the table, per candidate: what a reader needs to judge a figure. */
export function renderDetails(results: readonly CandidateResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    if (r.failure) {
      lines.push(`- ${r.label} (${r.version}): did not start or serve: ${r.failure}`);
      continue;
    }
    const parts: string[] = [];
    if (r.wrk) parts.push(`wrk ${r.wrk.invalid ? `invalid (${r.wrk.invalid})` : `${Math.round(r.wrk.requestsPerSecond * r.wrk.seconds)} requests`}, proxy CPU ${r.wrkCpuSeconds?.toFixed(1) ?? '?'} s`);
    if (r.h2?.invalid) parts.push(`h2load invalid (${r.h2.invalid})`);
    if (typeof r.handshake === 'string') parts.push(`handshakes: ${r.handshake}`);
    else if (r.handshake) {
      const h = r.handshake;
      parts.push(
        `${h.handshakes} handshakes (${h.resumed} resumed, ${h.errors} failed) in ${h.seconds.toFixed(1)} s, proxy CPU ${r.handshakeServerCpuSeconds?.toFixed(1) ?? '?'} s, client CPU ${h.clientCpuSeconds.toFixed(1)} s (${Math.round((100 * h.clientCpuSeconds) / h.seconds)}% of its core)`,
      );
    }
    if (typeof r.manyCerts === 'string') parts.push(`1,000 certificates: ${r.manyCerts}`);
    else if (r.manyCerts && r.manyCerts.failedNames.length > 0) parts.push(`1,000 certificates: not served for ${r.manyCerts.failedNames.slice(0, 3).join(', ')}…`);
    lines.push(`- ${r.label} (${r.version}): ${parts.join('; ')}`);
  }
  return lines.join('\n');
}

export function renderPage(report: RunReport): string {
  return `# Benchmarks

Generated by \`npm run bench\` (\`bench/run.ts\`) on ${report.date}, mode **${report.mode}**, in ${Math.round(report.durationSeconds)} s.
Everything ran on 127.0.0.1 of one machine; figures from one run, so compare the ratios rather than the absolute numbers,
and re-run before relying on them.

${renderTable(report.results)}

## Details

${renderDetails(report.results)}

## Machine

${report.machine.map(([k, v]) => `- ${k}: ${v}`).join('\n')}

## Method

${report.notes.map((n) => `- ${n}`).join('\n')}

## Commands

\`\`\`sh
${report.commands.join('\n')}
\`\`\`
`;
}

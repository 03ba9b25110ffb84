/**
 * Turns the measurements into the markdown table (rows: metric; columns: candidates and the
 * my-server/Caddy ratio) and the page written to docs/benchmarks.md.
 *
 * Each load ran once per round. Rates and latencies come from the candidate's best valid run
 * (highest rate; its own p50/p99), since interference from other work on a shared machine only
 * ever slows a run down; per-CPU-second figures add up every valid run.
 */
import type { CandidateId, Mode } from './candidates.ts';
import type { AbuseResult } from './abuse.ts';
import type { H2loadResult, HandshakeResult, WrkResult } from './load.ts';

/** One load run and the CPU seconds the candidate's processes used during it. */
export interface Sample<T> {
  readonly result: T;
  readonly cpuSeconds: number;
}

export interface ManyCertsResult {
  readonly sites: number;
  readonly startupSeconds: number;
  readonly rssKiB: number;
  /** Names whose handshake failed or served another name's certificate. */
  readonly failedNames: readonly string[];
}

/** Everything measured for one candidate; `failure` set when it did not start or serve. */
export interface CandidateResult {
  readonly id: CandidateId;
  readonly label: string;
  readonly version: string;
  readonly failure?: string;
  readonly idleRssKiB?: number;
  readonly wrk: readonly Sample<WrkResult>[];
  /** The same wrk load fetching the 64 KiB body. */
  readonly wrk64: readonly Sample<WrkResult>[];
  readonly h2: readonly Sample<H2loadResult>[];
  /** A string when the handshake client itself failed. */
  readonly handshake: readonly Sample<HandshakeResult | string>[];
  readonly peakRssKiB?: number;
  readonly manyCerts?: ManyCertsResult | string;
  /** A string when the abuse client itself failed. */
  readonly abuse?: AbuseResult | string;
  /** VmRSS one second after the abuse phase. */
  readonly abuseRssKiB?: number;
}

/**
 * The handshake load run against a bare Node `http2.createSecureServer` in the same rounds (bench/floors.ts
 * startBareServer), or why it was not: Node's own cost per connection, the floor under my-server's.
 */
export type HandshakeFloor = readonly Sample<HandshakeResult | string>[] | string;

/**
 * The same bare server proxying to the bench's upstream (bench/floors.ts BARE_SERVER), under the
 * same wrk loads in the same rounds, or why it was not measured: what a Node reverse proxy with
 * nothing of my-server's costs per request.
 */
export type ProxyFloor =
  | {
      readonly wrk: readonly Sample<WrkResult>[];
      readonly wrk64: readonly Sample<WrkResult>[];
      /** VmRSS after one proxied request (or why it was not read). */
      readonly idleRssKiB?: number | string | undefined;
    }
  | string;

export interface RunReport {
  readonly handshakeFloor?: HandshakeFloor | undefined;
  readonly proxyFloor?: ProxyFloor | undefined;
  readonly date: string;
  readonly mode: Mode;
  readonly rounds: number;
  readonly machine: readonly [string, string][];
  readonly results: readonly CandidateResult[];
  readonly commands: readonly string[];
  /** Config file text of each candidate's one-site instance. */
  readonly configs: readonly [string, string][];
  readonly notes: readonly string[];
  readonly durationSeconds: number;
}

/** A number, or why there is none (a footnote), or undefined when not measured. */
export type Figure = number | string | undefined;

function handshakeProblem(h: HandshakeResult | string): string | undefined {
  if (typeof h === 'string') return h;
  if (h.errors > h.handshakes / 100) return `${h.errors} failed handshakes`;
  if (h.resumed > 0) return `${h.resumed} resumed handshakes`;
  return undefined;
}

const validWrk = (r: CandidateResult): Sample<WrkResult>[] => r.wrk.filter((s) => !s.result.invalid);
const validWrk64 = (r: CandidateResult): Sample<WrkResult>[] => r.wrk64.filter((s) => !s.result.invalid);
const validH2 = (r: CandidateResult): Sample<H2loadResult>[] => r.h2.filter((s) => !s.result.invalid);
const validHandshakes = (r: CandidateResult): Sample<HandshakeResult>[] =>
  r.handshake.filter((s): s is Sample<HandshakeResult> => handshakeProblem(s.result) === undefined);

const handshakesPerCpu = (r: CandidateResult): Figure => perCpu(validHandshakes(r), (h) => h.handshakes);
const wrkRequests = (w: WrkResult): number => w.requestsPerSecond * w.seconds;
const requestsPerCpu = (r: CandidateResult): Figure => perCpu(validWrk(r), wrkRequests);
const requests64PerCpu = (r: CandidateResult): Figure => perCpu(validWrk64(r), wrkRequests);

function best<T>(samples: readonly Sample<T>[], rate: (t: T) => number): T | undefined {
  let top: T | undefined;
  for (const s of samples) if (top === undefined || rate(s.result) > rate(top)) top = s.result;
  return top;
}

/** The figure from the best valid run, else the first run's problem. */
function fromBest<T>(valid: Sample<T>[], all: readonly Sample<T>[], rate: (t: T) => number, pick: (t: T) => number, problem: (t: T) => string | undefined): Figure {
  const top = best(valid, rate);
  if (top !== undefined) return pick(top);
  const first = all[0];
  return first === undefined ? undefined : (problem(first.result) ?? 'no valid run');
}

function perCpu<T>(valid: Sample<T>[], count: (t: T) => number): Figure {
  const cpu = valid.reduce((sum, s) => sum + s.cpuSeconds, 0);
  return valid.length === 0 || cpu <= 0 ? undefined : valid.reduce((sum, s) => sum + count(s.result), 0) / cpu;
}

const wrkRate = (w: WrkResult): number => w.requestsPerSecond;
const h2Rate = (h: H2loadResult): number => h.requestsPerSecond;
const hsRate = (h: HandshakeResult): number => h.handshakes / h.seconds;

function manyCerts(r: CandidateResult, pick: (m: ManyCertsResult) => number): Figure {
  if (typeof r.manyCerts === 'string' || r.manyCerts === undefined) return r.manyCerts;
  if (r.manyCerts.failedNames.length > 0) return `${r.manyCerts.failedNames.length} of ${r.manyCerts.sites - 1} names not served their own certificate`;
  return pick(r.manyCerts);
}

interface Row {
  readonly metric: string;
  readonly better: 'higher' | 'lower';
  /** Whether the issue sets a goal on this row's ratio (≥ 1.0 when higher is better, ≤ 1.0 otherwise). */
  readonly goal: boolean;
  readonly digits: number;
  readonly value: (r: CandidateResult) => Figure;
}

function abuse(r: CandidateResult, pick: (a: AbuseResult) => Figure): Figure {
  if (typeof r.abuse === 'string' || r.abuse === undefined) return r.abuse;
  if (r.abuse.answeredMs === undefined) return 'no answer within 10 s after the abuse';
  if (r.abuse.status !== 200) return `answered ${String(r.abuse.status)} after the abuse`;
  return pick(r.abuse);
}

const MiB = (kib: number | undefined): Figure => (kib === undefined ? undefined : kib / 1024);

const ROWS: readonly Row[] = [
  { metric: 'HTTPS/1.1 keep-alive req/s (wrk)', better: 'higher', goal: true, digits: 0, value: (r) => fromBest(validWrk(r), r.wrk, wrkRate, wrkRate, (w) => w.invalid) },
  { metric: 'HTTPS/1.1 p50 latency, ms', better: 'lower', goal: false, digits: 2, value: (r) => fromBest(validWrk(r), r.wrk, wrkRate, (w) => w.p50Ms, (w) => w.invalid) },
  { metric: 'HTTPS/1.1 p99 latency, ms', better: 'lower', goal: true, digits: 2, value: (r) => fromBest(validWrk(r), r.wrk, wrkRate, (w) => w.p99Ms, (w) => w.invalid) },
  { metric: 'HTTPS/1.1 requests per proxy CPU-second', better: 'higher', goal: true, digits: 0, value: requestsPerCpu },
  { metric: 'HTTPS/1.1 keep-alive 64 KiB req/s (wrk)', better: 'higher', goal: true, digits: 0, value: (r) => fromBest(validWrk64(r), r.wrk64, wrkRate, wrkRate, (w) => w.invalid) },
  { metric: 'HTTPS/1.1 64 KiB p99 latency, ms', better: 'lower', goal: true, digits: 2, value: (r) => fromBest(validWrk64(r), r.wrk64, wrkRate, (w) => w.p99Ms, (w) => w.invalid) },
  { metric: 'HTTPS/1.1 64 KiB requests per proxy CPU-second', better: 'higher', goal: true, digits: 0, value: requests64PerCpu },
  { metric: 'HTTP/2 req/s (h2load)', better: 'higher', goal: true, digits: 0, value: (r) => fromBest(validH2(r), r.h2, h2Rate, h2Rate, (h) => h.invalid) },
  // Not a goal row: the one-core handshake client is the bottleneck (99–100% of its core in every
  // run), so this rate ties; issue 12's goal is the CPU per connection, the row below.
  { metric: 'Full TLS handshakes/s', better: 'higher', goal: false, digits: 0, value: (r) => fromBest(validHandshakes(r), r.handshake, (h) => (typeof h === 'string' ? 0 : hsRate(h)), (h) => (typeof h === 'string' ? Number.NaN : hsRate(h)), handshakeProblem) },
  { metric: 'Full TLS handshakes per proxy CPU-second', better: 'higher', goal: true, digits: 0, value: handshakesPerCpu },
  { metric: 'RSS idle, 1 site, MiB', better: 'lower', goal: false, digits: 1, value: (r) => MiB(r.idleRssKiB) },
  // Issue 12's peak goal is peak ≤ 2× idle (the bullet under the table, renderPeakOverIdle), not Caddy's figure.
  { metric: 'Peak RSS (VmHWM) after all loads, MiB', better: 'lower', goal: false, digits: 1, value: (r) => MiB(r.peakRssKiB) },
  { metric: 'RSS with 1,000 certificates, MiB', better: 'lower', goal: true, digits: 1, value: (r) => manyCerts(r, (m) => m.rssKiB / 1024) },
  { metric: 'RSS after 10,000 cancelled + 2,000 rapid-reset HTTP/2 streams, MiB', better: 'lower', goal: false, digits: 1, value: (r) => abuse(r, () => MiB(r.abuseRssKiB)) },
  { metric: 'First answer after that abuse, ms', better: 'lower', goal: false, digits: 1, value: (r) => abuse(r, (a) => a.answeredMs) },
  { metric: 'Start-up with 1,001 sites until serving, s', better: 'lower', goal: false, digits: 2, value: (r) => manyCerts(r, (m) => m.startupSeconds) },
];

function format(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The table, with a footnote for every cell that has no figure. */
export function renderTable(results: readonly CandidateResult[]): string {
  const footnotes: string[] = [];
  const cell = (r: CandidateResult, row: Row): { text: string; num?: number } => {
    const value = r.failure ? `did not start or serve: ${r.failure}` : row.value(r);
    if (typeof value === 'number' && Number.isFinite(value)) return { text: format(value, row.digits), num: value };
    const note = `${r.label}: ${typeof value === 'string' ? value : 'not measured'}`.replaceAll('\n', ' ').replaceAll('|', '\\|');
    let index = footnotes.indexOf(note);
    if (index < 0) index = footnotes.push(note) - 1;
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
    return `| ${row.metric} | ${cells.map((x) => x.text).join(' | ')} | ${ratioAndGoal(m, c, row)} |`;
  });
  const notes = footnotes.map((f, i) => `[^${i + 1}]: ${f}`);
  return [header, rule, ...lines, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n');
}

/**
 * The last two cells of a comparison row: my-server ÷ Caddy, and the goal with its mark (✓ when the
 * ratio is on the better side of 1.0), or which way is better for a row without a goal.
 */
export function ratioAndGoal(mine: number | undefined, caddy: number | undefined, row: { readonly better: 'higher' | 'lower'; readonly goal: boolean }): string {
  const ratio = mine !== undefined && caddy !== undefined && caddy > 0 ? mine / caddy : undefined;
  const met = ratio === undefined ? '' : (row.better === 'higher' ? ratio >= 1 : ratio <= 1) ? ' ✓' : ' ✗';
  const goal = row.goal ? `${row.better === 'higher' ? '≥' : '≤'} 1.0${met}` : `(${row.better} is better)`;
  return `${ratio === undefined ? 'n/a' : ratio.toFixed(2)} | ${goal}`;
}

function describeRuns(r: CandidateResult): string[] {
  const wrkRun = (s: Sample<WrkResult>): string => (s.result.invalid ? `invalid (${s.result.invalid})` : `${Math.round(s.result.requestsPerSecond)} req/s p99 ${s.result.p99Ms.toFixed(1)} ms, CPU ${s.cpuSeconds.toFixed(1)} s`);
  const wrk = r.wrk.map(wrkRun);
  const wrk64 = r.wrk64.map(wrkRun);
  const h2 = r.h2.map((s) => (s.result.invalid ? `invalid (${s.result.invalid})` : `${Math.round(s.result.requestsPerSecond)} req/s, CPU ${s.cpuSeconds.toFixed(1)} s`));
  const hs = r.handshake.map((s) => {
    const h = s.result;
    if (typeof h === 'string') return h;
    const clientShare = Math.round((100 * h.clientCpuSeconds) / h.seconds);
    const negotiated = h.group !== undefined ? `, ${h.group} ${h.cipher ?? ''}`.trimEnd() : '';
    return `${h.handshakes} in ${h.seconds.toFixed(1)} s (${h.resumed} resumed, ${h.errors} failed${negotiated}), proxy CPU ${s.cpuSeconds.toFixed(1)} s, client CPU ${h.clientCpuSeconds.toFixed(1)} s (${clientShare}% of its core)`;
  });
  const lines = [`  - wrk: ${wrk.join('; ')}`, `  - wrk 64 KiB: ${wrk64.join('; ')}`, `  - h2load: ${h2.join('; ')}`, `  - handshakes: ${hs.join('; ')}`];
  if (typeof r.abuse === 'string') lines.push(`  - HTTP/2 abuse: ${r.abuse}`);
  else if (r.abuse !== undefined) lines.push(`  - HTTP/2 abuse: ${r.abuse.cancelled} cancelled, ${r.abuse.rapidResets} rapid resets sent, ${r.abuse.goaway ? 'GOAWAY' : 'no GOAWAY'}`);
  if (typeof r.manyCerts === 'string') lines.push(`  - 1,000 certificates: ${r.manyCerts}`);
  else if (r.manyCerts?.failedNames.length) lines.push(`  - 1,000 certificates: not served for ${r.manyCerts.failedNames.slice(0, 3).join(', ')}…`);
  return lines;
}

/** Every run behind the table, per candidate: what a reader needs to judge a figure. */
export function renderDetails(results: readonly CandidateResult[]): string {
  return results
    .flatMap((r) => (r.failure ? [`- ${r.label} (${r.version}): did not start or serve: ${r.failure}`] : [`- ${r.label} (${r.version}), per round:`, ...describeRuns(r)]))
    .join('\n');
}

/** The peak-memory goal of issue 12 is my-server's own ratio (peak ≤ 2× idle), not a comparison with Caddy. */
const PEAK_OVER_IDLE_GOAL = 2;

function renderPeakOverIdle(report: RunReport): string {
  const ratio = (r: CandidateResult): number | undefined =>
    r.idleRssKiB !== undefined && r.peakRssKiB !== undefined && r.idleRssKiB > 0 ? r.peakRssKiB / r.idleRssKiB : undefined;
  const parts = report.results.flatMap((r) => {
    const x = ratio(r);
    if (x === undefined) return [];
    const mark = r.id === 'my-server' ? (x <= PEAK_OVER_IDLE_GOAL ? ' ✓' : ' ✗') : '';
    return [`${r.label} ${x.toFixed(2)}${mark}`];
  });
  return parts.length === 0 ? '' : `\n- Peak ÷ idle RSS (issue 12's goal for my-server: ≤ ${PEAK_OVER_IDLE_GOAL.toFixed(1)}): ${parts.join(', ')}.\n`;
}

/** The reverse-proxy mode's section: the main table, every run, the method, commands and configs. */
export function renderProxySection(report: RunReport): string {
  return `Layout **${report.mode}**, ${report.rounds} round(s).

${renderTable(report.results)}
${renderPeakOverIdle(report)}${renderHandshakeFloor(report)}${renderProxyFloor(report)}
### Runs

${renderDetails(report.results)}

### Method

${report.notes.map((n) => `- ${n}`).join('\n')}

`;
}

/** The bullet under the proxy table: the bare Node server's handshakes per CPU-second beside the products'. */
function renderHandshakeFloor(report: RunReport): string {
  const floor = report.handshakeFloor;
  if (floor === undefined) return '';
  if (typeof floor === 'string') return `\n- Handshake floor: not measured (${floor}).\n`;
  const valid = floor.filter((s): s is Sample<HandshakeResult> => handshakeProblem(s.result) === undefined);
  const rate = perCpu(valid, (h) => h.handshakes);
  if (typeof rate !== 'number') return `\n- Handshake floor: no valid run (${floor.map((s) => handshakeProblem(s.result) ?? 'ok').join('; ')}).\n`;
  const parts = beside(report, rate, handshakesPerCpu);
  return `\n- Handshake floor: a bare Node ${process.version} \`http2.createSecureServer({ allowHTTP1: true })\` with the same certificate, pinned like the proxies and loaded by the same handshake client after them in each round: **${Math.round(rate).toLocaleString('en-US')}** full handshakes per CPU-second${parts}. What Node's own HTTPS server costs per connection, the one my-server is built on.\n`;
}

/** " (0.91 of Caddy's; my-server 0.92 of it)": a floor's figure beside the products' same figure. */
function beside(report: RunReport, floor: number, figure: (r: CandidateResult) => Figure): string {
  const of = (id: CandidateId): number | undefined => {
    const r = report.results.find((x) => x.id === id);
    const v = r === undefined ? undefined : figure(r);
    return typeof v === 'number' ? v : undefined;
  };
  const caddy = of('caddy');
  const mine = of('my-server');
  const parts = [
    caddy !== undefined ? `${(floor / caddy).toFixed(2)} of Caddy's` : undefined,
    mine !== undefined ? `my-server ${(mine / floor).toFixed(2)} of it` : undefined,
  ].filter((x) => x !== undefined);
  return parts.length > 0 ? ` (${parts.join('; ')})` : '';
}

/** The bullet under the handshake floor's: the bare Node proxy's requests per CPU-second beside the products'. */
function renderProxyFloor(report: RunReport): string {
  const floor = report.proxyFloor;
  if (floor === undefined) return '';
  if (typeof floor === 'string') return `\n- Proxy floor: not measured (${floor}).\n`;
  const figure = (samples: readonly Sample<WrkResult>[], size: string, products: (r: CandidateResult) => Figure): string => {
    const rate = perCpu(samples.filter((x) => !x.result.invalid), wrkRequests);
    if (typeof rate !== 'number') return `${size}: no valid run (${samples.map((x) => x.result.invalid ?? 'ok').join('; ') || 'none'})`;
    return `**${Math.round(rate).toLocaleString('en-US')}** at ${size}${beside(report, rate, products)}`;
  };
  return `\n- Proxy floor: the same bare Node server proxying to the same upstream (undici's Pool as my-server uses it, Host passed on, hop-by-hop fields dropped, X-Forwarded-For, -Proto and -Host set, the upstream paused while the client does not read and aborted when it goes away; \`bench/floors.ts\`), loaded by the same wrk runs after the proxies in each round: ${figure(floor.wrk, '1 KiB', requestsPerCpu)}, ${figure(floor.wrk64, '64 KiB', requests64PerCpu)} requests per CPU-second. What a Node reverse proxy with no routing, configuration, metrics or logs costs per request.${renderFloorIdle(report, floor.idleRssKiB)}\n`;
}

/** The proxy floor's resting memory beside my-server's idle figure (the issue's idle goal was set against a server that had served nothing). */
function renderFloorIdle(report: RunReport, kib: number | string | undefined): string {
  if (kib === undefined) return '';
  if (typeof kib === 'string') return ` Its idle RSS: not read (${kib}).`;
  // 0 is what the process-tree reader reports for a process that is gone.
  if (!(kib > 0)) return ' Its idle RSS: not read (the bare Node server was gone).';
  const mine = report.results.find((r) => r.id === 'my-server')?.idleRssKiB;
  const ratio = mine === undefined ? '' : ` (my-server's idle ${(mine / kib).toFixed(2)}× it)`;
  return ` At rest after one proxied request, read like the products' idle figure: **${(kib / 1024).toFixed(1)} MiB** RSS${ratio}.`;
}

/** A row of a table whose columns are the candidates, with the my-server ÷ Caddy ratio and the goal. */
export interface FigureRow {
  readonly metric: string;
  readonly better: 'higher' | 'lower';
  /** Whether an issue sets a goal on the ratio (≥ 1.0 when higher is better, ≤ 1.0 otherwise). */
  readonly goal: boolean;
  readonly digits: number;
  /** One figure per column, in the order of the columns. */
  readonly values: readonly Figure[];
}

/** The table of `rows` over `columns` (ids pick the my-server and Caddy columns for the ratio), with footnotes for missing cells. */
export function figureTable(columns: readonly { readonly id: string; readonly label: string }[], rows: readonly FigureRow[], notePrefix: string): string {
  const footnotes: string[] = [];
  const cell = (label: string, value: Figure, digits: number): { text: string; num?: number } => {
    if (typeof value === 'number' && Number.isFinite(value)) return { text: format(value, digits), num: value };
    const note = `${label}: ${typeof value === 'string' ? value : 'not measured'}`.replaceAll('\n', ' ').replaceAll('|', '\\|');
    let index = footnotes.indexOf(note);
    if (index < 0) index = footnotes.push(note) - 1;
    return { text: `n/a[^${index + 1}]` };
  };
  const mine = columns.findIndex((c) => c.id === 'my-server');
  const caddy = columns.findIndex((c) => c.id === 'caddy');
  const header = `| metric | ${columns.map((c) => c.label).join(' | ')} | my-server / Caddy | goal |`;
  const rule = `|---|${columns.map(() => '---:').join('|')}|---:|:---:|`;
  const lines = rows.map((row) => {
    const cells = columns.map((c, i) => cell(c.label, row.values[i], row.digits));
    const m = mine >= 0 ? cells[mine]?.num : undefined;
    const c = caddy >= 0 ? cells[caddy]?.num : undefined;
    return `| ${row.metric} | ${cells.map((x) => x.text).join(' | ')} | ${ratioAndGoal(m, c, row)} |`;
  });
  // Footnote labels must be unique on the page, which holds several tables.
  const tag = notePrefix;
  const notes = footnotes.map((f, i) => `[^${tag}${i + 1}]: ${f}`);
  const tagged = lines.map((l) => l.replace(/\[\^(\d+)\]/g, `[^${tag}$1]`));
  return [header, rule, ...tagged, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n');
}

/** A generated section: its id names the markers around it in docs/benchmarks.md. */
export interface Section {
  readonly id: string;
  readonly text: string;
}

const begin = (id: string): string => `<!-- bench:${id} begin (generated by npm run bench: edits inside are overwritten) -->`;
const end = (id: string): string => `<!-- bench:${id} end -->`;

/**
 * `page` with each section's text put between its markers, replacing what was there; a section
 * without markers yet is appended at the end. Everything outside the markers, hand-written text
 * included, and the sections of modes not run this time are kept as they were.
 */
export function mergeSections(page: string, sections: readonly Section[]): string {
  let out = page;
  for (const section of sections) {
    const block = `${begin(section.id)}\n${section.text.trim()}\n${end(section.id)}`;
    const startAt = out.indexOf(`<!-- bench:${section.id} begin`);
    const endAt = out.indexOf(end(section.id));
    if (startAt >= 0 && endAt > startAt) out = out.slice(0, startAt) + block + out.slice(endAt + end(section.id).length);
    else out = `${out.trimEnd()}\n\n${block}\n`;
  }
  return out.endsWith('\n') ? out : `${out}\n`;
}

/** The page a run starts from when docs/benchmarks.md does not exist yet. */
export const EMPTY_PAGE = `# Benchmarks

Generated by \`npm run bench\` (\`bench/run.ts\`); text outside the \`bench:\` markers is kept by every run.
`;

/** Commands and config files of the instances a run started, with the scratch folder as $BENCH_DIR. */
export function renderCommands(commands: readonly string[], configs: readonly [string, string][]): string {
  return `## Commands and configs of the last run

\`\`\`sh
${commands.join('\n')}
\`\`\`

${configs.map(([label, text]) => `${label}:\n\n\`\`\`\n${text.trimEnd()}\n\`\`\``).join('\n\n')}
`;
}

/**
 * A strict reader of the Prometheus text exposition format 0.0.4, for tests: every line is a
 * `# HELP`/`# TYPE` comment or `name{label="value",...} value [timestamp]`; anything else throws,
 * so a test that parses /metrics fails on malformed output.
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Exposition {
  readonly samples: readonly Sample[];
  /** Metric family name → type from its # TYPE line. */
  readonly types: ReadonlyMap<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)/y;

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
      if (m === null) throw new Error(`line ${i + 1}: bad comment: ${line}`);
      if (m[1] === 'TYPE') types.set(m[2] as string, m[3] as string);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`line ${i + 1}: bad sample: ${line}`);
    const value = parseValue(m[3] as string);
    if (value === undefined) throw new Error(`line ${i + 1}: bad value: ${line}`);
    samples.push({ name: m[1] as string, labels: parseLabels(m[2] ?? '', i + 1), value });
  }
  return { samples, types };
}

/** The value of the one sample with this name and exactly these labels, or undefined. */
export function sampleValue(exp: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).sort().join('|');
  const found = exp.samples.filter((s) => s.name === name && Object.entries(s.labels).sort().join('|') === want);
  if (found.length > 1) throw new Error(`${name} ${want}: ${found.length} samples`);
  return found[0]?.value;
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const m = LABEL.exec(text);
    if (m === null) throw new Error(`line ${line}: bad labels at ${start}: ${text}`);
    labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** Prometheus parses values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client writes "Nan"). */
function parseValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  const n = Number(text);
  return Number.isNaN(n) ? undefined : n;
}

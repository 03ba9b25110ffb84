/**
 * Issue 9 acceptance: the real-world Caddyfile corpus in `../shared/caddyfile-corpus/` (beside the
 * clone, as in CI) run through `my-server validate` by the corpus's own run-validate.sh, and each
 * case held to a table. A case is `accept` (must validate), `reject` (must fail with FILE:LINE:COL,
 * and the table says why that is right) or `pending` (run, its first error printed, and the test
 * FAILS when it starts to validate, so the table is moved to `accept` as the work lands; nothing is
 * skipped). The same run takes Caddy 2.6.2's own verdict on every case (`caddy adapt`, which the
 * script runs, and `caddy validate`, through a wrapper), held to tables too: informational about
 * Caddy, but a changed Caddy or corpus shows up here instead of silently moving the baseline.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MAIN } from '../helpers/cli.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CORPUS = join(REPO, '..', 'shared', 'caddyfile-corpus');

type Issue = 9 | 10 | 11;
type Expectation =
  | { readonly want: 'accept' }
  | { readonly want: 'reject'; readonly why: string }
  | { readonly want: 'pending'; readonly issues: readonly Issue[]; readonly why: string };

const accept = { want: 'accept' } as const;
// No case is pending any more (every file Caddy accepts validates); a new corpus case that needs
// unfinished work would be `{ want: 'pending', issues, why }`.

/**
 * Every case of the corpus by number. Issues: 9 routing (matchers, directive order, routing
 * handlers, logs, global options), 10 DNS-01 (the Cloudflare provider), 11 files, auth and PHP
 * (root, file_server, try_files, php_fastcgi, basicauth, forward_auth). `why` is what fails today.
 */
const EXPECTED: Readonly<Record<string, Expectation>> = {
  '01': accept,
  '02': accept,
  '03': accept,
  '04': accept,
  '05': accept,
  '06': { want: 'reject', why: 'needs templates (Go templates), out of scope: must name it with FILE:LINE:COL' },
  '07': accept,
  '08': accept,
  '09': accept,
  '10': accept,
  '11': accept,
  '12': accept,
  '13': accept,
  '14': accept,
  '15': accept,
  '16': accept,
  '17': accept,
  '18': accept,
  '19': accept,
  '20': { want: 'reject', why: '`tls email { }` opens and closes a block on one line: invalid in every Caddy release' },
  '21': accept,
  '22': accept,
  '23': accept,
  '24': accept,
  '25': accept,
  '26': accept,
  '27': accept,
  '28': accept,
  '29': accept,
  '30': accept,
  '31': accept,
  '32': accept,
  '33': accept,
  '34': accept,
  '35': accept,
  '36': accept,
  '37': accept,
  '38': accept,
  '39': accept,
  '40': accept,
  '41': accept,
  '42': accept,
  '43': accept,
  '44': accept,
  '45': accept,
  '46': accept,
  '47': accept,
  '48': accept,
  '49': accept,
  '50': accept,
};

/**
 * The cases `caddy validate` (2.6.2) refuses, and why. Most are syntax newer than 2.6.2 (the
 * corpus's caddy-2.6.2-notes.tsv names the release that added each); four are refused only because
 * validate provisions the TLS app and the certificate files they name do not exist on a test
 * machine (`caddy adapt` accepts them). my-server follows current Caddy, so none of these is a
 * reason for my-server to refuse the file.
 */
const CADDY_VALIDATE_REJECTS: Readonly<Record<string, string>> = {
  '01': 'flat log-filter fields, trusted_proxies_strict, client_ip_headers (2.8.0)',
  '03': 'persist_config (2.6.3)',
  '04': 'tls issuer acme { profile } (2.10.0)',
  '09': 'log_skip (2.8.0)',
  '10': 'tls /pki/public.crt … : certificate files absent here',
  '18': 'heredoc (2.7.0)',
  '19': 'tls /certs/certificate.pem … : certificate files absent here',
  '20': 'invalid in every release',
  '27': 'handle_errors 404 (2.8.0)',
  '32': 'tls /etc/caddy/mataroa-blog-cert.pem … : certificate files absent here',
  '33': 'servers { trusted_proxies } (2.6.3), log format append, dns cloudflare (plugin)',
  '34': '{args[N]} in a snippet of an imported file (2.7.0)',
  '43': 'flat log-filter fields (2.8.0)',
  '44': 'tls /etc/caddy/certificates/1337.crt … : certificate files absent here',
  '45': 'servers { trusted_proxies } (2.6.3)',
  '49': 'servers { trusted_proxies } (2.6.3)',
  '50': 'acme_dns cloudflare (plugin), auto_https prefer_wildcard (2.9.0)',
};

/**
 * Stands in for `caddy` in run-validate.sh: `adapt` runs as the script expects (its stdout, stderr
 * and exit code pass through), then the adapted JSON is checked by `caddy validate` and the verdict
 * appended to $VALIDATE_LOG. Log file names in the JSON are pointed into the staging directory and
 * HOME/XDG_* into a temp dir, because validate provisions loggers and the local CA: run as root it
 * otherwise writes /var/log/caddy.log and ~/.local/share/caddy.
 */
const WRAPPER = `#!/bin/sh
if [ "$1" != adapt ]; then exec "$CADDY_REAL" "$@"; fi
export HOME="$CADDY_HOME" XDG_DATA_HOME="$CADDY_HOME/data" XDG_CONFIG_HOME="$CADDY_HOME/config"
out="$PWD/.caddy-adapt.json"; err="$PWD/.caddy-adapt.err"
"$CADDY_REAL" "$@" >"$out" 2>"$err"; rc=$?
case_name=$(basename "$PWD")
if [ "$rc" = 0 ]; then
  sed -E "s#\\"filename\\":\\"[^\\"]*\\"#\\"filename\\":\\"$PWD/.caddy-validate.log\\"#g" "$out" >"$PWD/.caddy-validate.json"
  verr=$("$CADDY_REAL" validate --config "$PWD/.caddy-validate.json" 2>&1); vrc=$?
  first=$(printf '%s\\n' "$verr" | grep -E '^Error:' | head -1)
else
  vrc=$rc; first=$(grep -E '^Error:' "$err" | head -1)
fi
printf '%s\\t%s\\t%s\\n' "$case_name" "$vrc" "$(printf '%s' "$first" | sed "s#$PWD/##g" | cut -c1-200)" >>"$VALIDATE_LOG"
cat "$out"; cat "$err" >&2
exit "$rc"
`;

interface Row {
  readonly name: string;
  readonly caddyAdaptRc: number;
  readonly myRc: number;
  readonly myFirstError: string;
  /** Every FILE:LINE:COL line my-server printed for the case. */
  readonly myErrors: readonly string[];
}

const run = promisify(execFile);

function caseNumber(name: string): string {
  return name.slice(0, 2);
}

function runScript(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(CORPUS, 'run-validate.sh'), '--out', env['RESULTS_DIR'] ?? ''], {
      cwd: REPO,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('the Caddyfile corpus (../shared/caddyfile-corpus) against my-server validate and Caddy 2.6.2', () => {
  let dir: string;
  let rows: Map<string, Row>;
  let caddyValidate: Map<string, { rc: number; error: string }>;

  before(async () => {
    assert.ok(
      existsSync(join(CORPUS, 'run-validate.sh')),
      `the Caddyfile corpus is missing: expected ${CORPUS}/run-validate.sh (CI checks out "shared" beside the clone, as ../shared)`,
    );
    const caddy = await run('sh', ['-c', 'command -v caddy']).catch(() => undefined);
    assert.ok(caddy !== undefined, 'caddy is not installed: scripts/install-test-deps.sh installs the Debian package (Caddy 2.6.2)');
    const caddyReal = caddy.stdout.trim();
    const version = (await run(caddyReal, ['version'])).stdout.trim();
    console.log(`reference: caddy ${version} (${caddyReal})`);

    dir = await mkdtemp(join(tmpdir(), 'caddy-corpus-'));
    const wrapper = join(dir, 'caddy');
    await writeFile(wrapper, WRAPPER);
    await chmod(wrapper, 0o755);
    const validateLog = join(dir, 'caddy-validate.tsv');
    await writeFile(validateLog, '');
    const results = join(dir, 'results');
    const { code, output } = await runScript(
      {
        ...process.env,
        NODE: process.execPath,
        MYSERVER_MAIN: MAIN,
        CADDY: wrapper,
        CADDY_REAL: caddyReal,
        CADDY_HOME: join(dir, 'home'),
        VALIDATE_LOG: validateLog,
        RESULTS_DIR: results,
        TMPDIR: dir,
        MY_SERVER_LOG_LEVEL: 'warn',
      },
      240_000,
    );
    assert.equal(code, 0, `run-validate.sh failed:\n${output}`);

    const errorLines = new Map<string, string[]>();
    for (const line of (await readFile(join(results, 'myserver-all-errors.txt'), 'utf8')).split('\n')) {
      const tab = line.indexOf('\t');
      if (tab < 0) continue;
      const n = caseNumber(line);
      errorLines.set(n, [...(errorLines.get(n) ?? []), line.slice(tab + 1)]);
    }
    rows = new Map();
    const tsv = await readFile(join(results, 'results.tsv'), 'utf8');
    for (const line of tsv.split('\n').slice(1)) {
      if (line === '') continue;
      const [name = '', caddyRc = '', myRc = '', myFirst = ''] = line.split('\t');
      rows.set(caseNumber(name), { name, caddyAdaptRc: Number(caddyRc), myRc: Number(myRc), myFirstError: myFirst, myErrors: errorLines.get(caseNumber(name)) ?? [] });
    }
    caddyValidate = new Map();
    for (const line of (await readFile(validateLog, 'utf8')).split('\n')) {
      if (line === '') continue;
      const [name = '', rc = '', error = ''] = line.split('\t');
      caddyValidate.set(caseNumber(name), { rc: Number(rc), error });
    }
  });

  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test('the table names every case of the corpus, and the script ran each one', () => {
    const files = readdirSync(join(CORPUS, 'caddyfiles'))
      .filter((f) => f.endsWith('.Caddyfile'))
      .map(caseNumber)
      .sort();
    assert.deepEqual(Object.keys(EXPECTED).sort(), files, 'EXPECTED must list exactly the corpus cases');
    assert.deepEqual([...rows.keys()].sort(), files, 'run-validate.sh must report every case');
    assert.deepEqual([...caddyValidate.keys()].sort(), files, 'caddy validate must have run on every case');
  });

  test('accept cases validate in my-server', () => {
    const failed: string[] = [];
    for (const [n, e] of Object.entries(EXPECTED)) {
      const row = rows.get(n);
      if (e.want === 'accept' && row?.myRc !== 0) failed.push(`${row?.name ?? n}: ${row?.myFirstError ?? 'not run'}`);
    }
    assert.deepEqual(failed, [], `cases marked accept that my-server refuses:\n${failed.join('\n')}`);
  });

  test('reject cases fail with FILE:LINE:COL', () => {
    const wrong: string[] = [];
    for (const [n, e] of Object.entries(EXPECTED)) {
      if (e.want !== 'reject') continue;
      const row = rows.get(n);
      console.log(`reject ${row?.name ?? n} (${e.why}): ${row?.myFirstError ?? 'not run'}`);
      if (row === undefined || row.myRc === 0 || !/^[^\s:]+:\d+:\d+: \S/.test(row.myFirstError)) {
        wrong.push(`${row?.name ?? n}: rc ${row?.myRc ?? '-'}, first error ${JSON.stringify(row?.myFirstError ?? '')}`);
      }
    }
    assert.deepEqual(wrong, [], `cases that must be refused with FILE:LINE:COL:\n${wrong.join('\n')}`);
    // 20's fault is the `{` on line 4: the position must point there, not at the end of the file.
    assert.match(rows.get('20')?.myFirstError ?? '', /^Caddyfile:4:\d+: /);
    // 06 is refused for `templates` (line 7), whatever else is still missing around it.
    const templates = rows.get('06')?.myErrors.find((l) => l.includes('"templates"'));
    assert.match(templates ?? '', /^Caddyfile:7:\d+: /, `06 must name "templates" at its FILE:LINE:COL:\n${rows.get('06')?.myErrors.join('\n') ?? ''}`);
  });

  test('pending cases run; one that starts to validate fails this test until the table says accept', () => {
    const nowPassing: string[] = [];
    const byIssue = new Map<Issue, number>();
    for (const [n, e] of Object.entries(EXPECTED)) {
      if (e.want !== 'pending') continue;
      for (const i of e.issues) byIssue.set(i, (byIssue.get(i) ?? 0) + 1);
      const row = rows.get(n);
      assert.ok(row !== undefined, `case ${n} was not run`);
      const now = row.myRc === 0 ? 'VALIDATES' : `refused: ${row.myFirstError}`;
      console.log(`pending ${row.name} (issue ${e.issues.join('+')}: ${e.why}): ${now}`);
      if (row.myRc === 0) nowPassing.push(row.name);
    }
    const accepted = [...rows.values()].filter((r) => r.myRc === 0).length;
    console.log(`my-server validates ${accepted} of ${rows.size}; pending by issue: ${[...byIssue].map(([i, c]) => `#${i} ${c}`).join(', ')}`);
    assert.deepEqual(nowPassing, [], `these pending cases now validate: mark them accept in EXPECTED (test/integration/caddy-corpus.test.ts)`);
  });

  test('Caddy 2.6.2 refuses exactly the cases in the tables (adapt: the corpus notes; validate: CADDY_VALIDATE_REJECTS)', async () => {
    const notes = await readFile(join(CORPUS, 'caddy-2.6.2-notes.tsv'), 'utf8');
    const adaptRejectsNoted = notes
      .split('\n')
      .slice(1)
      .filter((l) => l.split('\t')[1] === 'reject')
      .map(caseNumber)
      .sort();
    const adaptRejects = [...rows.values()].filter((r) => r.caddyAdaptRc !== 0).map((r) => caseNumber(r.name)).sort();
    assert.deepEqual(adaptRejects, adaptRejectsNoted, 'caddy adapt verdicts differ from caddy-2.6.2-notes.tsv');

    const validateRejects = [...caddyValidate].filter(([, v]) => v.rc !== 0).map(([n]) => n).sort();
    for (const n of validateRejects) {
      console.log(`caddy validate rejects ${n} (${CADDY_VALIDATE_REJECTS[n] ?? 'NOT IN TABLE'}): ${caddyValidate.get(n)?.error ?? ''}`);
    }
    assert.deepEqual(validateRejects, Object.keys(CADDY_VALIDATE_REJECTS).sort(), 'caddy validate verdicts differ from CADDY_VALIDATE_REJECTS');
  });
});

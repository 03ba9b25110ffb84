import { obtainCertificate } from '../certs/obtain.ts';
import { toALabels } from '../certs/names.ts';
import { knownFromRecord, LIFECYCLE_ROOT, lifecycleKey, statusOf, type CertificateStatus } from '../certs/lifecycle.ts';
import { listHolds } from '../certs/holds.ts';
import { canRevoke, type Issuer } from '../certs/issuer.ts';
import { describeError } from '../errors.ts';
import { openCertsContext, type CertsContext } from './certs-context.ts';
import { startChallengeResponders } from './challenge-responders.ts';
import { showAcmeProgress } from './progress.ts';
import { configPath, parse, usageError } from './usage.ts';

const HELP = `Usage: my-server certs <subcommand> [options]

  obtain NAME... [--config FILE] [--issuer acme|internal]
                                   obtain one certificate per issuer for NAMEs, each from the issuer
                                   \`run\` would use (the site's tls setting, local-only names such as
                                   localhost the built-in CA), answering challenges on http_port/https_port;
                                   --issuer overrides that choice
  list [--config FILE] [--json]    per certificate: issuer (CA), not-after, renewal time, next attempt,
                                   failures in a row and the last error (the CA's problem type and
                                   detail); --json adds profile, not-before, the ARI window, last check
  renew NAME... [--config FILE]    renew now
  revoke NAME... [--reason N]      revoke (RFC 5280 reason code) and remove from storage
  root [--config FILE]             print the built-in local CA's root certificate (PEM)
`;

export async function certsCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'obtain':
    case 'renew':
      return obtainOrRenew(sub, rest);
    case 'list':
      return list(rest);
    case 'revoke':
      return revoke(rest);
    case 'root':
      return root(rest);
    case undefined:
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return sub === undefined ? 2 : 0;
    default:
      throw usageError(`unknown certs subcommand "${sub}"`);
  }
}

/**
 * The names as the wire and storage carry them: a U-label ("bücher.test") is converted to its
 * A-label as the Proxyfile's site addresses are, so `certs obtain bücher.test` stores the
 * certificate `run` looks up for that site.
 */
function names(positionals: string[]): string[] {
  if (positionals.length === 0) throw usageError('name at least one certificate name');
  return positionals.map((p) => {
    const n = toALabels(p);
    if (n === undefined) throw usageError(`"${p}" is not a DNS name or IP address`);
    return n;
  });
}

async function withContext(values: Record<string, unknown>, fn: (ctx: CertsContext) => Promise<number>): Promise<number> {
  const ctx = await openCertsContext(configPath(values));
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

async function obtainOrRenew(sub: 'obtain' | 'renew', args: string[]): Promise<number> {
  const config = { type: 'string', short: 'c' } as const;
  const { values, positionals } = parse(args, sub === 'obtain' ? { config, issuer: { type: 'string' } } : { config }, true);
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  const override = values['issuer'];
  if (override !== undefined && override !== 'acme' && override !== 'internal') throw usageError(`--issuer ${String(override)}: use acme or internal`);
  const wanted = names(positionals);
  return withContext(values, async (ctx) => {
    // One certificate per issuer (one order for all its names), each from the issuer run would use.
    const groups = new Map<Issuer, string[]>();
    let failed = 0;
    for (const n of wanted) {
      try {
        const issuer = ctx.issuerFor(n, override);
        groups.set(issuer, [...(groups.get(issuer) ?? []), n]);
      } catch (err) {
        failed++;
        process.stderr.write(`my-server certs ${sub}: ${n}: ${describeError(err)}\n`);
      }
    }
    const needsChallenges = [...groups.keys()].some((issuer) => issuer !== ctx.issuers.local);
    const responders = needsChallenges ? await startChallengeResponders(ctx) : undefined;
    const stopProgress = showAcmeProgress();
    try {
      for (const [issuer, group] of groups) {
        try {
          // Renewing keeps every name the stored certificate has, not only the one typed.
          const stored = sub === 'renew' ? await ctx.stack.store.load(issuer.storageKey, group[0]!) : undefined;
          const names = stored ? [...new Set([...group, ...stored.meta.names])] : group;
          const cert = await obtainCertificate(names, {
            storage: ctx.stack.storage,
            store: ctx.stack.store,
            issuer,
            keyType: ctx.globals.keyType,
            log: ctx.log.child({ logger: 'certs' }),
            force: sub === 'renew',
          });
          process.stdout.write(
            `${sub === 'renew' ? 'renewed' : 'obtained'} ${names.join(', ')}: issuer "${cert.meta.issuerName}", not after ${cert.meta.notAfter}, stored at ${cert.keys.cert}\n`,
          );
        } catch (err) {
          failed++;
          process.stderr.write(`my-server certs ${sub}: ${group.join(', ')}: ${describeError(err)}\n`);
        }
      }
    } finally {
      stopProgress();
      await responders?.close();
    }
    return failed === 0 ? 0 : 1;
  });
}

async function list(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } }, false);
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  return withContext(values, async (ctx) => {
    const entries = await storedLifecycle(ctx);
    if (values['json']) {
      process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
      return 0;
    }
    const rows = [
      ['NAMES', 'ISSUER', 'NOT AFTER', 'RENEW AT', 'NEXT ATTEMPT', 'FAILURES', 'STORAGE KEY'],
      ...entries.map((e) => [e.names.join(','), e.issuerName || e.issuer, e.notAfter ?? '-', e.renewAt ?? '-', e.nextAttempt ?? '-', String(e.consecutiveFailures), e.storageKey ?? '-']),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
    // Why the last attempt failed, in the CA's words (RFC 8555 problem type and detail).
    for (const e of entries) {
      const err = e.lastError;
      if (err === undefined) continue;
      process.stdout.write(`LAST ERROR  ${e.name}  at ${err.at}  ${err.type !== undefined ? `${err.type}: ` : err.code !== undefined ? `${err.code}: ` : ''}${err.detail}${e.consecutiveFailures > 0 ? `  (${e.consecutiveFailures} failure${e.consecutiveFailures === 1 ? '' : 's'} in a row)` : ''}\n`);
    }
    // Names the CA refused for good (parked) or asked us to wait for (Retry-After), with its words.
    for (const h of await listHolds(ctx.stack.storage)) {
      const what = h.scope === 'account' ? `(every order of the account at ${h.issuer})` : h.scope === 'domains' ? h.subjects.map((d) => `*.${d},${d}`).join(',') : h.subjects.join(',');
      process.stdout.write(`${h.parked ? 'PARKED' : 'WAITING'}  ${what}  until ${new Date(h.until).toISOString()}  ${h.problem.type}: ${h.problem.detail}\n`);
    }
    return 0;
  });
}

/**
 * Every stored certificate with what the running instances recorded about it (certs/lifecycle.ts),
 * then the names they tried and hold no certificate for.
 */
async function storedLifecycle(ctx: CertsContext): Promise<CertificateStatus[]> {
  const storage = ctx.stack.storage;
  const records = new Map<string, NonNullable<ReturnType<typeof knownFromRecord>>>();
  for (const key of (await storage.list(LIFECYCLE_ROOT, true)).filter((k) => k.endsWith('.json'))) {
    const bytes = await storage.get(key);
    const known = bytes === undefined ? undefined : knownFromRecord(bytes);
    if (known !== undefined) records.set(key, known);
  }
  const now = Date.now();
  const out: CertificateStatus[] = [];
  for (const { meta, keys } of await ctx.stack.store.list()) {
    // certificates/<issuer>/<name>/<name>.crt: the record of the same issuer and name.
    const [, issuerSegment = '', nameSegment = ''] = keys.cert.split('/');
    const recordKey = lifecycleKey(issuerSegment, nameSegment);
    const known = records.get(recordKey);
    records.delete(recordKey);
    out.push(statusOf(known?.name ?? meta.names[0] ?? nameSegment, meta, known ?? { ca: meta.issuer, failures: 0 }, now, keys.cert));
  }
  for (const known of records.values()) out.push(statusOf(known.name, undefined, known, now));
  return out;
}

async function revoke(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string', short: 'c' }, reason: { type: 'string' } }, true);
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  let reason: number | undefined;
  if (typeof values['reason'] === 'string') {
    reason = Number(values['reason']);
    // RFC 5280 §5.3.1 codes; 7 is unused. RFC 8555 §7.6 lets the CA refuse others.
    if (!Number.isInteger(reason) || reason < 0 || reason > 10 || reason === 7) throw usageError(`--reason ${values['reason']}: not an RFC 5280 reason code (0-10, not 7)`);
  }
  const wanted = names(positionals);
  return withContext(values, async (ctx) => {
    let failed = 0;
    for (const n of wanted) {
      try {
        const issuer = ctx.issuerFor(n);
        const cert = await ctx.stack.store.load(issuer.storageKey, n);
        if (!cert) throw new Error(`no stored certificate for ${n} from ${issuer.id}`);
        if (!canRevoke(issuer)) throw new Error(`${n} is from the local CA, which has no revocation; delete it from storage instead`);
        await issuer.revoke(cert.chainPem, { ...(reason !== undefined ? { reason } : {}) });
        await ctx.stack.store.remove(issuer.storageKey, n);
        // Its failures belong to the certificate just removed; `certs list` must not show them on.
        await ctx.stack.storage.delete(lifecycleKey(issuer.storageKey, n));
        process.stdout.write(`revoked ${n} (serial ${cert.meta.serialHex})\n`);
      } catch (err) {
        failed++;
        process.stderr.write(`my-server certs revoke: ${n}: ${describeError(err)}\n`);
      }
    }
    return failed === 0 ? 0 : 1;
  });
}

async function root(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string', short: 'c' } }, false);
  if (values['help']) {
    process.stdout.write(HELP);
    return 0;
  }
  return withContext(values, async (ctx) => {
    process.stdout.write(await ctx.stack.local.rootPem());
    return 0;
  });
}

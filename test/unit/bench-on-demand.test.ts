import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderOnDemand, storedCertificates, type CandidateCerts } from '../../bench/cert-modes.ts';

test('the on-demand bench counts only the asked-for names that have a certificate file in storage', async (t) => {
  const storage = await mkdtemp(join(tmpdir(), 'bench-od-'));
  t.after(() => rm(storage, { recursive: true, force: true }));
  const put = async (issuer: string, name: string, file?: string): Promise<void> => {
    await mkdir(join(storage, 'certificates', issuer, name), { recursive: true });
    if (file !== undefined) await writeFile(join(storage, 'certificates', issuer, name, file), 'x');
  };
  await put('local', 'n00000.od.test', 'n00000.od.test.crt');
  await put('local', 'n00001.od.test', 'n00001.od.test.key'); // a key alone: not a certificate
  await put('local', 'n00002.od.test'); // an empty folder (a crash, a failed issuance)
  await put('acme-v02.example', 'n00003.od.test', 'n00003.od.test.crt'); // another issuer's folder counts too
  await put('acme-v02.example', 'n00000.od.test', 'n00000.od.test.crt'); // but a name under two issuers once
  await put('local', 'warmup.od.test', 'warmup.od.test.crt'); // not one of the names asked for
  const names = new Set(['n00000.od.test', 'n00001.od.test', 'n00002.od.test', 'n00003.od.test', 'n00004.od.test']);
  assert.equal(await storedCertificates(storage, names), 2);
  assert.equal(await storedCertificates(join(storage, 'missing'), names), 0);
});

test('the on-demand table shows CPU and wall time per stored certificate beside per name asked for', () => {
  const result = (id: string, stored: number): CandidateCerts => ({
    id,
    label: id,
    memory: new Map(),
    issuance: { count: 1000, stored, seconds: 2, failed: 1000 - stored, failures: [], idleRssKiB: 1024, rssKiB: 2048, hwmKiB: 2048, cpuSeconds: 1 },
  });
  const text = renderOnDemand([result('my-server', 1000), result('caddy', 500), result('other', 0)], 1000);
  assert.match(text, /\| same: certificates stored when the handshakes were over \| 1,000 \| 500 \|/);
  assert.match(text, /\| same: server CPU per name asked for, ms \| 1\.00 \| 1\.00 \|/);
  // Caddy stored half as many for the same CPU and wall: twice the cost per certificate.
  assert.match(text, /\| same: server CPU per stored certificate, ms \| 1\.00 \| 2\.00 \|/);
  assert.match(text, /\| same: wall time per stored certificate, ms \| 2\.00 \| 4\.00 \|/);
  assert.match(text, /no certificate stored/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, type PlanInput, type ReloadPlan } from '../../../src/app/plan.ts';
import { parseConfig } from '../../../src/config/index.ts';

/** A Proxyfile with `globals` in its global block and `sites` after it. */
async function input(globals: string, sites = 'a.example.com {\n\trespond "a"\n}\n', caRoots?: string): Promise<PlanInput> {
  const config = await parseConfig(`{\n${globals}\n}\n${sites}`, { filename: '/etc/my-server/Proxyfile', env: {} });
  return { config, caRoots };
}

const BASE = 'admin localhost:2019\nstorage file_system /var/lib/a';
const ENV = {};

type Flags = Omit<ReloadPlan, 'listeners'>;
const flags = (p: ReloadPlan): Flags => ({ storage: p.storage, acme: p.acme, onDemand: p.onDemand, log: p.log, admin: p.admin, files: p.files });
const NONE: Flags = { storage: false, acme: false, onDemand: false, log: false, admin: false, files: false };

test('the first start plans everything; the same config again plans nothing', async () => {
  const a = await input(BASE);
  const first = plan(undefined, a, ENV);
  assert.deepEqual(flags(first), { storage: true, acme: true, onDemand: true, log: true, admin: true, files: true });
  assert.deepEqual([...first.listeners.open.keys()].sort(), ['http:80@', 'https:443@']);
  assert.deepEqual(first.listeners.close, []);
  const again = plan(a, await input(BASE), ENV);
  assert.deepEqual(flags(again), NONE);
  assert.equal(again.listeners.open.size, 0);
  assert.deepEqual(again.listeners.close, []);
});

test('each global option changes exactly its own part of the plan', async () => {
  const cases: [string, string, Partial<Flags>][] = [
    ['storage', 'admin localhost:2019\nstorage file_system /var/lib/b', { storage: true }],
    ['email', `${BASE}\nemail ops@example.com`, {}],
    ['acme_ca', `${BASE}\nacme_ca https://ca.example.net/dir`, {}],
    ['acme_eab', `${BASE}\nacme_eab kid-1 c2VjcmV0`, { acme: true }],
    ['acme_profile', `${BASE}\nacme_profile shortlived`, { acme: true }],
    ['cert_lifetime', `${BASE}\ncert_lifetime 7d`, { acme: true }],
    ['acme_ca_root', `${BASE}\nacme_ca_root /etc/ca.pem`, { acme: true }],
    ['on_demand_tls', `${BASE}\non_demand_tls {\n\task http://127.0.0.1:9/ask\n}`, { onDemand: true }],
    ['log', `${BASE}\nlog {\n\tlevel debug\n}`, { log: true }],
    ['admin', 'admin localhost:2020\nstorage file_system /var/lib/a', { admin: true }],
    ['admin off', 'admin off\nstorage file_system /var/lib/a', { admin: true }],
    ['grace_period', `${BASE}\ngrace_period 5s`, {}],
  ];
  const before = await input(BASE);
  for (const [what, globals, expected] of cases) {
    const p = plan(before, await input(globals), ENV);
    assert.deepEqual(flags(p), { ...NONE, ...expected }, what);
  }
});

test('a new acme_ca_root under the same path is an ACME change', async () => {
  const globals = `${BASE}\nacme_ca_root /etc/ca.pem`;
  const p = plan(await input(globals, undefined, 'ROOT 1'), await input(globals, undefined, 'ROOT 2'), ENV);
  assert.equal(p.acme, true);
  assert.equal(plan(await input(globals, undefined, 'ROOT 1'), await input(globals, undefined, 'ROOT 1'), ENV).acme, false);
});

test('MY_SERVER_STORAGE is the default folder only: the storage option changing under it is a change', async () => {
  const env = { MY_SERVER_STORAGE: '/srv/data' };
  assert.equal(plan(await input(BASE), await input('admin localhost:2019\nstorage file_system /var/lib/b'), env).storage, true);
  assert.equal(plan(await input('admin localhost:2019'), await input('admin localhost:2019\nstorage file_system /srv/data'), env).storage, false);
});

test('listeners: a new port is opened, a dropped one closed, a new bind address reopens all', async () => {
  const before = await input(BASE, 'a.example.com {\n}\nhttp://b.example.com:8080 {\n}\n');
  const moved = plan(before, await input(BASE, 'a.example.com:8443 {\n}\n'), ENV);
  assert.deepEqual([...moved.listeners.open.keys()], ['https:8443@']);
  assert.deepEqual(moved.listeners.open.get('https:8443@'), { protocol: 'https', port: 8443 });
  assert.deepEqual([...moved.listeners.close].sort(), ['http:8080@', 'https:443@']);
  const bound = plan(before, await input(`${BASE}\ndefault_bind 127.0.0.1`, 'a.example.com {\n}\nhttp://b.example.com:8080 {\n}\n'), ENV);
  assert.deepEqual([...bound.listeners.open.keys()].sort(), ['http:8080@127.0.0.1', 'http:80@127.0.0.1', 'https:443@127.0.0.1']);
  assert.equal(bound.listeners.close.length, 3);
  const off = plan(before, await input(`${BASE}\nauto_https off`, 'a.example.com {\n}\nhttp://b.example.com:8080 {\n}\n'), ENV);
  assert.deepEqual(off.listeners.close, ['http:80@'], 'auto_https off: no http_port for HTTP-01 and redirects');
});

test('files: a new certificate file pair or a new import is a change; site content is not', async () => {
  const before = await input(BASE);
  assert.equal(plan(before, await input(BASE, 'a.example.com {\n\trespond "changed"\n}\n'), ENV).files, false);
  assert.equal(plan(before, await input(BASE, 'a.example.com {\n\ttls /etc/a.pem /etc/a.key\n}\n'), ENV).files, true);
});

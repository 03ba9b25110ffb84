/**
 * Reloading `my-server run` (admin POST /load), end to end: global options that reach past the
 * site table take effect: a changed `storage` (certificates come from, and go to, the new one)
 * and changed global `log` options (new file, new level); a log file that cannot be opened
 * rejects the reload. Reloads of sites, SIGHUP and --watch are covered by run-proxy.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { handshake, localRoot, loopbackGlobals, postLoad, verifiedHandshake } from '../helpers/clients.ts';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer } from '../helpers/run-server.ts';

const SITE = `a.localhost {
	respond "a"
}
`;

// Old: a reload ignored a changed `storage`; certificates kept going to, and coming from, the old one.
test('a reload that changes storage serves certificates from the new storage, under its own local CA', { timeout: 60_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const server = await startServer((env) => `${loopbackGlobals(env, { http: httpPort, https: httpsPort })}${SITE}`);
  t.after(() => server.close());
  const first = await localRoot(server);
  await verifiedHandshake(httpsPort, 'a.localhost', first.pem);

  const second = { ...server, storage: join(server.dir, 'data2') };
  const load = await postLoad(server, `${loopbackGlobals(second, { http: httpPort, https: httpsPort })}${SITE}`);
  assert.equal(load.status, 200, load.body);
  const next = await localRoot(second);
  assert.notEqual(next.pem, first.pem, 'the new storage has a CA of its own');
  await verifiedHandshake(httpsPort, 'a.localhost', next.pem);
  assert.equal((await handshake(httpsPort, 'a.localhost', first.pem)).authorized, false, 'no longer the old storage\'s certificate');
  await access(join(second.storage, 'certificates', 'local', 'a.localhost', 'a.localhost.crt'));
  assert.match(server.output(), /storage changed/);

  // And back: the first storage is opened again and its CA and certificate serve again.
  const back = await postLoad(server, `${loopbackGlobals(server, { http: httpPort, https: httpsPort })}${SITE}`);
  assert.equal(back.status, 200, back.body);
  await verifiedHandshake(httpsPort, 'a.localhost', first.pem);
});

// Old: a reload left the global log options as they were at start.
test('a reload that changes the global log options writes to the new file at the new level', { timeout: 40_000 }, async (t) => {
  const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
  const logTo = (file: string, level: string): string => `\tlog {\n\t\toutput file ${file}\n\t\tformat json\n\t\tlevel ${level}\n\t}\n`;
  const server = await startServer((env) => `${loopbackGlobals(env, { http: httpPort, https: httpsPort }, logTo(join(env.dir, 'a.log'), 'info'))}${SITE}`, { env: { MY_SERVER_LOG_LEVEL: '' } });
  t.after(() => server.close());
  const first = join(server.dir, 'a.log');
  const second = join(server.dir, 'b.log');
  await eventually('the first log file has the serving line', 10_000, async () => ((await readFile(first, 'utf8')).includes('"msg":"serving"') ? true : undefined), 100);

  // A log file that cannot be opened rejects the reload, naming the file; the old config serves on.
  const unwritable = '/proc/my-server-no-such-dir/x.log';
  const bad = await postLoad(server, `${loopbackGlobals(server, { http: httpPort, https: httpsPort }, logTo(unwritable, 'debug'))}${SITE}`);
  assert.notEqual(bad.status, 200);
  assert.match(bad.body, /log output file \/proc\/my-server-no-such-dir\/x\.log/);
  assert.equal((await handshake(httpsPort, 'a.localhost')).ok, true, 'still serving after the rejected reload');

  const load = await postLoad(server, `${loopbackGlobals(server, { http: httpPort, https: httpsPort }, logTo(second, 'debug'))}${SITE}`);
  assert.equal(load.status, 200, load.body);
  // An unknown name is refused with a debug line: only the new level lets it through.
  await handshake(httpsPort, 'unknown.test');
  const text = await eventually('the debug line in the new file', 10_000, async () => {
    const t2 = await readFile(second, 'utf8').catch(() => '');
    return t2.includes('TLS handshake refused') ? t2 : undefined;
  }, 100);
  assert.match(text, /"level":"debug"/);
  const old = await readFile(first, 'utf8');
  assert.doesNotMatch(old, /TLS handshake refused/, 'nothing went to the old file after the reload');
});

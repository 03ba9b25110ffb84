import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/config/index.ts';

const site = ':8080 {\n\trespond "x"\n}\n';

test('global metrics { per_certificate_limit N }: parsed, bounded, Caddy\'s per_host refused with a pointer', async () => {
  const c = await parseConfig(`{\n\tmetrics {\n\t\tper_certificate_limit 7\n\t}\n}\n${site}`, { filename: 'Proxyfile' });
  assert.deepEqual(c.globals.metrics, { perCertificateLimit: 7 });
  assert.equal((await parseConfig(site, { filename: 'Proxyfile' })).globals.metrics, undefined);
  await assert.rejects(parseConfig(`{\n\tmetrics {\n\t\tper_certificate_limit -1\n\t}\n}\n${site}`, { filename: 'Proxyfile' }), /Proxyfile:3:\d+: .*per_certificate_limit/);
  await assert.rejects(parseConfig(`{\n\tmetrics {\n\t\tper_host\n\t}\n}\n${site}`, { filename: 'Proxyfile' }), /Proxyfile:3:\d+: metrics: per_host is a Caddy option my-server does not support/);
  await assert.rejects(parseConfig(`{\n\tmetrics {\n\t\tnope 1\n\t}\n}\n${site}`, { filename: 'Proxyfile' }), /nope/);
});

/**
 * app/access-log.ts AccessLogs.for: a site's access logger is made once (not a child logger per
 * request), and made again after a reload's prune or for another process logger.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessLogs } from '../../../src/app/access-log.ts';
import { parseConfig } from '../../../src/config/index.ts';
import { silentLogger } from '../../../src/log.ts';

const PROXYFILE = `
http://a.test:8080 {
	log
	respond "a"
}
http://b.test:8080 {
	log named
	respond "b"
}
http://c.test:8080 {
	respond "c"
}
`;

test('one access logger per site across requests; new ones after prune or for another process logger', async () => {
  const config = await parseConfig(PROXYFILE, { filename: 'test' });
  const [a, b, c] = config.sites;
  assert.ok(a && b && c);
  const logs = new AccessLogs();
  const ctx = { log: silentLogger(), config };
  try {
    const first = logs.for(a, ctx);
    assert.ok(first);
    assert.equal(logs.for(a, ctx), first, 'the same logger for the next request');
    assert.notEqual(logs.for(b, ctx), first, 'each site its own');
    assert.equal(logs.for(c, ctx), undefined, 'no log directive, no logger');
    assert.notEqual(logs.for(a, { log: silentLogger(), config }), first, 'another process logger gets its own child');
    const again = logs.for(a, ctx);
    logs.prune(config);
    assert.notEqual(logs.for(a, ctx), again, 'made again after prune (which may close a parent)');
  } finally {
    logs.close();
    await logs.closed;
  }
});

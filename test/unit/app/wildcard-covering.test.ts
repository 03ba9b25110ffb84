/**
 * Caddy 2.10+: a named site covered by a managed wildcard is served with the wildcard's certificate,
 * so the pair makes one certificate (one DNS-01 order), not two.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generation } from '../../../src/app/generation.ts';
import type { Issuer } from '../../../src/certs/issuer.ts';
import { parseConfig } from '../../../src/config/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { TLS_CONTEXT_OPTIONS } from '../../../src/tls/tls-front.ts';

test('a.example.com under a managed *.example.com is not managed on its own; names the wildcard does not cover are', async () => {
  const config = await parseConfig(
    `{
	acme_dns exec /bin/true
}
*.example.com {
	respond "wild"
}
a.example.com {
	respond "a"
}
a.b.example.com, other.example.net {
	respond "deeper"
}
`,
    { filename: 'test', env: {} },
  );
  const issuer = {} as Issuer;
  const gen = await Generation.build(config, { for: () => issuer }, silentLogger(), TLS_CONTEXT_OPTIONS);
  try {
    assert.deepEqual([...gen.managed.keys()].sort(), ['*.example.com', 'a.b.example.com', 'other.example.net']);
  } finally {
    await gen.close();
  }
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { dns01RecordName, dns01TxtValue } from '../../../src/acme/dns01.ts';

const execFileP = promisify(execFile);

test('the TXT value is base64url(SHA-256(key authorization)) as openssl computes it (RFC 8555 §8.4)', async () => {
  const keyAuthorization = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI';
  const { stdout } = await execFileP('sh', ['-c', `printf %s '${keyAuthorization}' | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\\n'`]);
  assert.equal(dns01TxtValue(keyAuthorization), stdout);
  assert.equal(dns01TxtValue(keyAuthorization).length, 43);
});

test('the record name: _acme-challenge under the base name; a wildcard shares its base name\'s', () => {
  const cases: [string, string][] = [
    ['example.com', '_acme-challenge.example.com'],
    ['*.example.com', '_acme-challenge.example.com'],
    ['WWW.Example.COM.', '_acme-challenge.www.example.com'],
  ];
  for (const [domain, name] of cases) assert.equal(dns01RecordName(domain), name, domain);
});

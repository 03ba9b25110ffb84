import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accountKeyKey,
  accountMetaKey,
  certificateKeys,
  issueLockName,
  issuerKey,
  localCaKeys,
  LOCAL_ISSUER,
} from '../../../src/certs/keys.ts';
import { validateKey } from '../../../src/storage/key-path.ts';

/** Every key we hand to Storage must pass its portable-key rules and stay inside its folder. */
function assertSafeKey(key: string): void {
  assert.doesNotThrow(() => validateKey(key), key);
  for (const seg of key.split('/')) {
    assert.notEqual(seg, '');
    assert.notEqual(seg, '.');
    assert.notEqual(seg, '..');
    assert.ok(!seg.startsWith('.'), `${key}: segment ${seg} starts with a dot`);
  }
}

test('issuerKey: the layout of known directories is stable', () => {
  const cases: [string, string][] = [
    ['https://acme-v02.api.letsencrypt.org/directory', 'acme-v02.api.letsencrypt.org-directory'],
    ['https://acme-staging-v02.api.letsencrypt.org/directory', 'acme-staging-v02.api.letsencrypt.org-directory'],
    ['https://acme-v02.api.letsencrypt.org/directory/', 'acme-v02.api.letsencrypt.org-directory'],
    ['https://ACME.Example.com/Dir', 'acme.example.com-dir'],
    ['https://127.0.0.1:14000/dir', '127.0.0.1_14000-dir'],
    ['https://[::1]:14000/dir', '___1__14000-dir'],
    ['https://acme.zerossl.com/v2/DV90', 'acme.zerossl.com-v2-dv90'],
  ];
  for (const [url, want] of cases) assert.equal(issuerKey(url), want, url);
});

test('certificateKeys: the layout of a certificate entry is stable', () => {
  assert.deepEqual(certificateKeys('acme-v02.api.letsencrypt.org-directory', 'example.com'), {
    cert: 'certificates/acme-v02.api.letsencrypt.org-directory/example.com/example.com.crt',
    key: 'certificates/acme-v02.api.letsencrypt.org-directory/example.com/example.com.key',
    meta: 'certificates/acme-v02.api.letsencrypt.org-directory/example.com/example.com.json',
  });
  assert.deepEqual(certificateKeys(LOCAL_ISSUER, '*.example.com'), {
    cert: 'certificates/local/wildcard_.example.com/wildcard_.example.com.crt',
    key: 'certificates/local/wildcard_.example.com/wildcard_.example.com.key',
    meta: 'certificates/local/wildcard_.example.com/wildcard_.example.com.json',
  });
  assert.equal(certificateKeys(LOCAL_ISSUER, '::1').cert, 'certificates/local/__1/__1.crt');
  assert.equal(certificateKeys(LOCAL_ISSUER, 'Example.COM').cert, 'certificates/local/example.com/example.com.crt');
});

test('account and local CA keys are stable', () => {
  const issuer = issuerKey('https://acme-v02.api.letsencrypt.org/directory');
  assert.equal(accountKeyKey(issuer, 'me@example.com'), 'acme/acme-v02.api.letsencrypt.org-directory/accounts/me@example.com/account.key');
  assert.equal(accountMetaKey(issuer, undefined), 'acme/acme-v02.api.letsencrypt.org-directory/accounts/default/account.json');
  assert.deepEqual(localCaKeys, {
    rootCert: 'pki/local/root.crt',
    rootKey: 'pki/local/root.key',
    intermediateCert: 'pki/local/intermediate.crt',
    intermediateKey: 'pki/local/intermediate.key',
  });
  assert.equal(issueLockName('*.Example.com'), 'issue_cert_wildcard_.example.com');
});

test('hostile names, emails and directory URLs never escape their folder', () => {
  const hostile = ['..', '.', '../..', '../../etc/passwd', '/etc/passwd', 'a/../../b', '.hidden', '...', '', 'a\\..\\b', 'a\0b', 'c:\\x', '%2e%2e'];
  for (const h of hostile) {
    const keys = certificateKeys(h, h);
    for (const k of [keys.cert, keys.key, keys.meta]) {
      assertSafeKey(k);
      assert.equal(k.split('/').length, 4, `${JSON.stringify(h)} → ${k}: one segment per part`);
      assert.ok(k.startsWith('certificates/'));
    }
    for (const k of [accountKeyKey(h, h), accountMetaKey(h, h)]) {
      assertSafeKey(k);
      assert.equal(k.split('/').length, 5, k);
    }
    assertSafeKey(`x/${issuerKey(h)}`);
    assert.ok(!issueLockName(h).includes('/'), issueLockName(h));
  }
  for (const url of ['https://ca.test/../../../etc', 'https://ca.test/a/%2e%2e/%2e%2e/b', 'http://..:80/..', 'file:///etc/passwd', 'not a url/../..']) {
    const seg = issuerKey(url);
    assert.ok(!seg.includes('/'), `${url} → ${seg}`);
    assertSafeKey(`certificates/${seg}/x/x.crt`);
  }
});

test('two different names or issuers never share a certificate entry', () => {
  const names = ['a.test', '*.a.test', 'b.a.test', 'a.test.example', '127.0.0.1', '::1', 'localhost'];
  const seen = new Map<string, string>();
  for (const issuer of [LOCAL_ISSUER, issuerKey('https://acme-v02.api.letsencrypt.org/directory'), issuerKey('https://127.0.0.1:14000/dir')]) {
    for (const n of names) {
      const k = certificateKeys(issuer, n).cert;
      assert.equal(seen.get(k), undefined, `${issuer}/${n} collides with ${seen.get(k)}`);
      seen.set(k, `${issuer}/${n}`);
    }
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FencedWriteError, fencesOf, isFencedWrite } from '../../../src/storage/fenced.ts';
import { MyServerError } from '../../../src/errors.ts';

test('fencesOf takes none, one or several fences', () => {
  assert.deepEqual(fencesOf(undefined), []);
  assert.deepEqual(fencesOf({}), []);
  assert.deepEqual(fencesOf({ fence: undefined }), []);
  assert.deepEqual(fencesOf({ fence: { lock: 'a', token: 1 } }), [{ lock: 'a', token: 1 }]);
  assert.deepEqual(fencesOf({ fence: [{ lock: 'a', token: 1 }, { lock: 'b', token: 7 }] }), [{ lock: 'a', token: 1 }, { lock: 'b', token: 7 }]);
});

test('FencedWriteError is a storage error that names the key, the lock and both tokens', () => {
  const err = new FencedWriteError('certificates/x/a.test/a.test.crt', { lock: 'issue_cert_a.test', token: 3 }, 4, 'redis:redis://h:1 prefix "p"');
  assert.ok(err instanceof MyServerError);
  assert.ok(isFencedWrite(err));
  assert.ok(!isFencedWrite(new MyServerError('MS_ERR_STORAGE', 'x')));
  assert.equal(err.code, 'MS_ERR_STORAGE');
  assert.equal(err.name, 'FencedWriteError');
  assert.match(err.message, /certificates\/x\/a\.test\/a\.test\.crt/);
  assert.match(err.message, /"issue_cert_a\.test".*token 4, ours 3/);
});

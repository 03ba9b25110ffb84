import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MyServerError, describeError } from '../../src/errors.ts';

test('describeError joins the cause chain', () => {
  const root = new Error('connection refused');
  const err = new MyServerError('MS_ERR_ACME_NETWORK', 'fetching directory', { cause: root });
  assert.equal(err.code, 'MS_ERR_ACME_NETWORK');
  assert.equal(describeError(err), 'fetching directory: connection refused');
});

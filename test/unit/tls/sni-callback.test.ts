/**
 * What Node's SNICallback receives for hostile SNI bytes, and that createAcmeTlsServerOptions'
 * SNICallback refuses them before any lookup: Node decodes the name as latin1 (UTF-8 "ü" arrives
 * as "Ã¼"), keeps spaces, and never calls back for a NUL (OpenSSL answers unrecognized_name).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import tls, { type SecureContext } from 'node:tls';
import { createAcmeTlsServerOptions } from '../../../src/challenges/tls-alpn-01.ts';
import { rawClientHello, sendHello, UNRECOGNIZED_NAME_ALERT } from '../../helpers/raw-hello.ts';

test('SNICallback: names with bytes outside printable ASCII reach no lookup; OpenSSL refuses a NUL itself', async () => {
  const received: string[] = [];
  const looked: string[] = [];
  const refused: string[] = [];
  const options = createAcmeTlsServerOptions({
    solver: {
      challengeContextFor: (name: string): Promise<SecureContext | undefined> => {
        looked.push(`challenge:${name}`);
        return Promise.resolve(undefined);
      },
    },
    getSecureContext: (name: string): Promise<SecureContext | undefined> => {
      looked.push(name);
      return Promise.resolve(undefined);
    },
    alpnProtocols: ['http/1.1'],
    onRefused: (name) => refused.push(name),
  });
  const server = tls.createServer({
    ALPNCallback: options.ALPNCallback,
    SNICallback: function (this: tls.TLSSocket, name, cb) {
      received.push(name);
      options.SNICallback.call(this, name, cb);
    },
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    const nul = await sendHello(port, rawClientHello('a\0b.test'), 5_000);
    assert.deepEqual(nul.subarray(0, 7), UNRECOGNIZED_NAME_ALERT, 'OpenSSL refuses a NUL with unrecognized_name');
    assert.deepEqual(received, [], 'and SNICallback never runs for it');

    const hostile: [Buffer | string, string][] = [
      [Buffer.from('bücher.test', 'utf8'), 'b\xc3\xbccher.test'],
      ['b\xfccher.test', 'b\xfccher.test'],
      [' a.test', ' a.test'],
      ['a\tb.test', 'a\tb.test'],
      ['a.test\x7f', 'a.test\x7f'],
    ];
    for (const [sent] of hostile) await sendHello(port, rawClientHello(sent), 5_000);
    for (const [sent] of hostile) await sendHello(port, rawClientHello(sent, ['acme-tls/1']), 5_000);
    const expected = hostile.map(([, seen]) => seen);
    assert.deepEqual(received, [...expected, ...expected], 'what Node hands over: the bytes as latin1');
    assert.deepEqual(looked, [], 'no lookup, ordinary or challenge');
    assert.deepEqual(refused, [...expected, ...expected]);

    // A plain ASCII name is looked up as before.
    await sendHello(port, rawClientHello('ok.test'), 5_000);
    assert.deepEqual(looked, ['ok.test']);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

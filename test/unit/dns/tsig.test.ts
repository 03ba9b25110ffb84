import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { signMessage, tsigSecret, verifyAnswer, type TsigAlgorithm } from '../../../src/dns/tsig.ts';
import { recordOffsets, skipName } from '../../../src/dns/wire.ts';

/**
 * The first datagram `dig -y ALG:NAME:SECRET` sends: a query signed by BIND's own TSIG code, the
 * reference our signing must match byte for byte. Nothing answers; dig is killed once it has sent.
 */
async function digSignedQuery(algorithm: TsigAlgorithm, keyName: string, secret: string): Promise<Buffer> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = (socket.address()).port;
  const got = new Promise<Buffer>((resolve) => socket.once('message', (m) => resolve(m)));
  const dig = spawn('dig', [`@127.0.0.1`, '-p', String(port), '-y', `${algorithm}:${keyName}:${secret}`, 'www.example.test', 'TXT', '+tries=1', '+timeout=5'], { stdio: 'ignore' });
  try {
    return await got;
  } finally {
    dig.kill('SIGKILL');
    socket.close();
  }
}

for (const algorithm of ['hmac-sha256', 'hmac-sha512'] as const) {
  test(`signMessage (${algorithm}) gives the same TSIG record as BIND's dig for the same message and time`, { timeout: 20_000 }, async () => {
    const secret = Buffer.alloc(32, 0x5a).toString('base64');
    const signed = await digSignedQuery(algorithm, 'my-key.example.', secret);
    const offsets = recordOffsets(signed);
    const tsigAt = offsets.at(-1) as number;
    const unsigned = Buffer.from(signed.subarray(0, tsigAt));
    unsigned.writeUInt16BE(unsigned.readUInt16BE(10) - 1, 10);
    // Time Signed sits after the algorithm name in the TSIG RDATA.
    const rdata = skipName(signed, tsigAt) + 10;
    const timeSigned = signed.readUIntBE(skipName(signed, rdata), 6);
    const ours = signMessage(unsigned, { name: 'my-key.example.', algorithm, secret: tsigSecret(secret) as Buffer }, timeSigned * 1000);
    assert.equal(ours.message.toString('hex'), signed.toString('hex'));
  });
}

// That a correct answer verifies is shown against BIND (test/integration/dns01-rfc2136.test.ts).
test('verifyAnswer throws on an answer whose MAC does not verify', () => {
  const key = { name: 'k', algorithm: 'hmac-sha256' as const, secret: Buffer.alloc(32, 1) };
  const other = { ...key, secret: Buffer.alloc(32, 2) };
  const msg = Buffer.from('000180000000000000000000', 'hex');
  const signed = signMessage(msg, other);
  assert.throws(() => verifyAnswer(signed.message, key, Buffer.alloc(32)), /does not verify/);
});

test('verifyAnswer: an answer without TSIG gives undefined; tsigSecret refuses what is not base64', () => {
  const key = { name: 'k', algorithm: 'hmac-sha256' as const, secret: Buffer.alloc(32, 1) };
  assert.equal(verifyAnswer(Buffer.from('000180000000000000000000', 'hex'), key, Buffer.alloc(0)), undefined);
  assert.equal(tsigSecret('not*base64'), undefined);
  assert.equal(tsigSecret(''), undefined);
  assert.deepEqual(tsigSecret('AQID'), Buffer.from([1, 2, 3]));
});

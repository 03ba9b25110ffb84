/**
 * IP identifiers (RFC 8738) end to end, next to DNS-01 because the issuer policy decides both:
 * an IP address goes to ACME only when asked (`--issuer acme`, `tls { issuer acme }`), is
 * validated over TLS-ALPN-01 or HTTP-01 (never DNS-01, RFC 8738 §7, even with acme_dns set), and
 * lands in the certificate as an iPAddress SAN.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { runCli, tempProxyfile } from '../helpers/cli.ts';
import { eventually } from '../helpers/eventually.ts';
import { loopbackGlobals } from '../helpers/clients.ts';
import { startPebble, type Pebble } from '../helpers/pebble.ts';
import { freePorts } from '../helpers/ports.ts';
import { startServer } from '../helpers/run-server.ts';

/** A global options block for `certs obtain`: Pebble as the CA, and an acme_dns that must not be used for an IP. */
function globals(pebble: Pebble, ports: { http: number; https: number }, storage: string): string {
  return `{
	http_port ${ports.http}
	https_port ${ports.https}
	storage file ${storage}
	acme_ca ${pebble.directoryUrl}
	acme_ca_root ${pebble.caFile}
	acme_dns exec /bin/false
}
`;
}

async function obtainIp(pebble: Pebble, ports: { http: number; https: number }): Promise<{ code: number; out: string; san: string }> {
  const files = await tempProxyfile('');
  try {
    const storage = join(files.dir, 'data');
    await writeFile(files.file, globals(pebble, ports, storage));
    const res = await runCli(['certs', 'obtain', '127.0.0.1', '--issuer', 'acme', '--config', files.file], {
      env: { ...process.env, MY_SERVER_LOG_LEVEL: 'info' },
      timeoutMs: 90_000,
    });
    const key = /stored at (\S+)/.exec(res.stdout)?.[1];
    const san = key === undefined ? '' : (new X509Certificate(await readFile(join(storage, key))).subjectAltName ?? '');
    return { code: res.code ?? -1, out: `${res.stdout}\n${res.stderr}`, san };
  } finally {
    await files.remove();
  }
}

describe('IP identifiers through Pebble', () => {
  let pebble: Pebble;
  let ports: { http: number; https: number };

  before(async () => {
    const [http, https] = (await freePorts(2)) as [number, number];
    ports = { http, https };
    pebble = await startPebble({ httpPort: http, tlsPort: https, authzReuse: 0 });
  });
  after(() => pebble?.stop());

  test('certs obtain 127.0.0.1 --issuer acme: an iPAddress SAN, validated over TLS-ALPN-01', { timeout: 120_000 }, async () => {
    const r = await obtainIp(pebble, ports);
    assert.equal(r.code, 0, r.out);
    assert.equal(r.san, 'IP Address:127.0.0.1');
    assert.match(r.out, /"challengeType":"tls-alpn-01","msg":"ACME challenge-presented"/);
    assert.doesNotMatch(r.out, /dns-01/);
  });

  test('with the TLS-ALPN-01 port closed, the same name is validated over HTTP-01', { timeout: 120_000 }, async () => {
    const [otherHttps] = (await freePorts(1)) as [number];
    const r = await obtainIp(pebble, { http: ports.http, https: otherHttps });
    assert.equal(r.code, 0, r.out);
    assert.equal(r.san, 'IP Address:127.0.0.1');
    assert.match(r.out, /"challengeType":"http-01","msg":"ACME challenge-presented"/);
  });

  test('a site 127.0.0.1 { tls { issuer acme } } is served with Pebble\'s certificate to a client sending no SNI', { timeout: 120_000 }, async (t) => {
    const server = await startServer((env) => `${loopbackGlobals(env, ports, `\tacme_ca ${pebble.directoryUrl}\n\tacme_ca_root ${pebble.caFile}\n`)}127.0.0.1 {
	tls {
		issuer acme
	}
	respond "ip site"
}
`);
    t.after(() => server.close());
    const root = await pebble.rootPem();
    const san = await eventually('a handshake verified against Pebble\'s root', 60_000, () => new Promise<string | undefined>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: ports.https, ca: root, ALPNProtocols: ['http/1.1'] });
      socket.once('secureConnect', () => {
        const s = socket.getPeerCertificate().subjectaltname;
        socket.end();
        resolve(s);
      });
      socket.once('error', () => resolve(undefined));
    }), 500);
    assert.equal(san, 'IP Address:127.0.0.1');
  });
});

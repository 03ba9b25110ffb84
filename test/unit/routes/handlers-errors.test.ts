/**
 * error, handle_errors, abort, respond's block and redir … html through the real router.
 * Expectations were checked against Caddy 2.6.2 (`caddy run`, curl) unless a test says it
 * follows a newer Caddy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { parseConfig } from '../../../src/config/index.ts';
import { silentLogger } from '../../../src/log.ts';
import { SiteRouter } from '../../../src/routes/site-router.ts';
import { withSites } from './serve.ts';
import { withRouter } from './handlers-helpers.ts';
import { contextOf } from './serve.ts';

test('error without handle_errors answers its status with an empty body', async () => {
  await withSites(
    `
http://site.test:8080 {
	error /gone "it went" 410
	error /boom 503
	respond "ok"
}
`,
    async (request) => {
      const gone = await request('/gone');
      assert.equal(gone.status, 410);
      assert.equal(gone.body.length, 0);
      assert.equal((await request('/boom')).status, 503);
      assert.equal((await request('/fine')).body.toString(), 'ok');
    },
  );
});

test('handle_errors runs with the http.error values set; respond without a status answers the error status (Caddy 2.6.2: 418 and 503)', async () => {
  await withRouter(
    `
http://site.test:8080 {
	handle /err {
		error "oops here" 418
	}
	handle /err2 {
		error 503
	}
	handle_errors {
		header X-Handled yes
		respond "handled"
	}
}
`,
    async (request, contexts) => {
      const teapot = await request('/err');
      assert.equal(teapot.status, 418);
      assert.equal(teapot.headers['x-handled'], 'yes');
      assert.equal(teapot.body.toString(), 'handled');
      // Caddy 2.6.2 renders "{err.status_code} {err.status_text} {err.message}" as "418 I'm a teapot oops here".
      const values = contexts[0]?.values;
      assert.equal(values?.get('http.error.status_code'), '418');
      assert.equal(values?.get('http.error.status_text'), "I'm a teapot");
      assert.equal(values?.get('http.error.message'), 'oops here');
      assert.match(values?.get('http.error.id') ?? '', /^[a-z0-9_-]{9}$/);
      // Caddy 2.6.2: "503 Service Unavailable " (an empty message).
      const unavailable = await request('/err2');
      assert.equal(unavailable.status, 503);
      assert.equal(contexts[1]?.values?.get('http.error.status_text'), 'Service Unavailable');
      assert.equal(contexts[1]?.values?.get('http.error.message'), '');
    },
  );
});

test('handle_errors CODES (Caddy 2.8+): the blocks with codes first, the catch-all for the rest; a block that answers nothing hands on', async () => {
  await withSites(
    `
http://site.test:8080 {
	error /404 404
	error /502 502
	error /500 500
	error /403 403
	handle_errors {
		respond "any" 599
	}
	handle_errors 404 410 {
		respond "not here"
	}
	handle_errors 5xx {
		respond /502 "server side"
	}
}
`,
    async (request) => {
      const nf = await request('/404');
      assert.deepEqual([nf.status, nf.body.toString()], [404, 'not here']);
      const bg = await request('/502');
      assert.deepEqual([bg.status, bg.body.toString()], [502, 'server side']);
      const ie = await request('/500');
      assert.deepEqual([ie.status, ie.body.toString()], [599, 'any'], 'the 5xx block answered nothing: the catch-all ran');
      assert.equal((await request('/403')).body.toString(), 'any');
    },
  );
});

test('handle_errors that answers nothing: the bare error status, with the headers its routes set (Caddy 2.6.2: 418, X-A: b, empty body)', async () => {
  await withSites(
    `
http://site.test:8080 {
	error /e "m" 418
	handle_errors {
		header X-A b
		respond /e2 "x" 200
	}
}
`,
    async (request) => {
      const r = await request('/e');
      assert.equal(r.status, 418);
      assert.equal(r.headers['x-a'], 'b');
      assert.equal(r.body.length, 0);
    },
  );
});

/** Sends one keep-alive request and resolves with all the server sent once it closed the connection. */
function keepAliveExchange(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: site.test\r\nConnection: keep-alive\r\n\r\n`));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (text += c));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

test('respond with a block: body, and close ends the HTTP/1 connection after the response (Caddy 2.6.2 sends Connection: close)', async () => {
  await withRouter(
    `
http://site.test:8080 {
	respond /close 200 {
		body "closing"
		close
	}
	respond {
		body \`{"json": true}\`
	}
}
`,
    async (request, _contexts, port) => {
      const closing = await request('/close');
      assert.equal(closing.body.toString(), 'closing');
      assert.equal(closing.headers.connection, 'close');
      // A keep-alive client's connection is closed by the server after the response.
      const raw = await keepAliveExchange(port, '/close');
      assert.match(raw, /^HTTP\/1.1 200 OK\r\n/);
      assert.match(raw, /\r\n\r\nclosing$/);
      const json = await request('/other');
      assert.equal(json.body.toString(), '{"json": true}');
    },
  );
});

test('redir … html answers 200 with the page Caddy 2.6.2 sends, the target HTML-escaped', async () => {
  await withSites(
    `
http://site.test:8080 {
	redir * https://x.test/t?a=<b>&c html
}
`,
    async (request) => {
      const page = await request('/');
      assert.equal(page.status, 200);
      assert.equal(page.headers.location, undefined);
      // Byte for byte what Caddy 2.6.2 sent (its Content-Type was text/plain; we say text/html).
      assert.equal(
        page.body.toString(),
        `<!DOCTYPE html>
<html>
	<head>
		<title>Redirecting...</title>
		<script>window.location.replace("https://x.test/t?a=&lt;b&gt;&amp;c");</script>
		<meta http-equiv="refresh" content="0; URL='https://x.test/t?a=&lt;b&gt;&amp;c'">
	</head>
	<body>Redirecting to <a href="https://x.test/t?a=&lt;b&gt;&amp;c">https://x.test/t?a=&lt;b&gt;&amp;c</a>...</body>
</html>
`,
      );
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    },
  );
});

test('abort closes an HTTP/1 connection without a response (Caddy 2.6.2: curl reports an empty reply)', async () => {
  await withRouter(
    `
http://site.test:8080 {
	abort /a*
	respond "ok"
}
`,
    async (request) => {
      await assert.rejects(request('/abort'), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || /socket hang up/.test(err.message));
      assert.equal((await request('/fine')).body.toString(), 'ok');
    },
  );
});

test('abort on HTTP/2 resets only its stream; the session goes on', async () => {
  const config = await parseConfig('http://site.test:8080 {\n\tabort /a*\n\trespond "ok"\n}\n', { filename: 'test' });
  const router = new SiteRouter(config.sites[0]!, silentLogger());
  const server = http2.createServer((req, res) => {
    const ctx = contextOf(req as unknown as http.IncomingMessage);
    void router.handle(req, res, ctx);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const reset = await new Promise<number>((resolve, reject) => {
      const s = client.request({ ':path': '/abort', ':authority': 'site.test' });
      s.on('response', () => reject(new Error('got a response')));
      s.on('close', () => resolve(s.rstCode));
      s.on('error', () => {});
      s.end();
    });
    assert.equal(reset, http2.constants.NGHTTP2_INTERNAL_ERROR);
    const body = await new Promise<string>((resolve) => {
      const s = client.request({ ':path': '/fine', ':authority': 'site.test' });
      let text = '';
      s.setEncoding('utf8');
      s.on('data', (c: string) => (text += c));
      s.on('end', () => resolve(text));
      s.end();
    });
    assert.equal(body, 'ok');
  } finally {
    client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await router.close();
  }
});

test('handle_errors answers a reverse_proxy that found no upstream and a file_server 404 (Caddy returns both as errors)', async () => {
  await withSites(
    `
http://site.test:8080 {
	handle /proxy* {
		reverse_proxy 127.0.0.1:9
	}
	handle /files* {
		file_server {
			root /nonexistent-root
		}
	}
	handle_errors {
		respond "caught {err.status_code}"
	}
}
`,
    async (request) => {
      const p = await request('/proxy');
      assert.equal(p.status, 502);
      assert.equal(p.body.toString(), 'caught 502');
      const f = await request('/files/x');
      assert.equal(f.status, 404);
      assert.equal(f.body.toString(), 'caught 404');
    },
  );
});

test('respond: a JSON object body is application/json, other bodies text/plain; a placeholder status is read per request (Caddy 2.6.2 checked)', async () => {
  await withSites(
    `
http://site.test:8080 {
	respond /o \`{"a":1}\`
	respond /s \`"str"\`
	respond /b \`{bad\`
	error /e 418
	handle_errors {
		respond "code {err.status_code}" {err.status_code}
	}
}
`,
    async (request) => {
      assert.equal((await request('/o')).headers['content-type'], 'application/json');
      assert.equal((await request('/s')).headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal((await request('/b')).headers['content-type'], 'text/plain; charset=utf-8');
      const e = await request('/e');
      assert.equal(e.status, 418);
      assert.equal(e.body.toString(), 'code 418');
    },
  );
});

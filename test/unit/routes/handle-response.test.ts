/**
 * reverse_proxy's handle_response, replace_status, copy_response and copy_response_headers at run
 * time, through the real router (withSites) with a real upstream: the upstream's response head
 * picks the handler; a handle_response block answers instead of the relay, or lets the chain go on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { withSites } from './serve.ts';

interface Upstream {
  readonly port: number;
  /** Resolves with whether the response finished, when the one to /big closes. */
  readonly bigClosed: Promise<boolean>;
  close(): Promise<void>;
}

async function upstream(): Promise<Upstream> {
  let bigClosed!: (finished: boolean) => void;
  const big = new Promise<boolean>((resolve) => (bigClosed = resolve));
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/teapot') {
      res.writeHead(418, { 'x-up': 'yes', 'content-type': 'text/plain' });
      res.end('short and stout');
    } else if (url.startsWith('/private')) {
      res.writeHead(401, { 'www-authenticate': 'Bearer' });
      res.end('who are you');
    } else if (url === '/accel') {
      res.writeHead(200, { 'x-accel-redirect': '/files/a.bin', 'x-up': 'yes', 'x-secret': 'no', 'content-type': 'text/x-up' });
      res.end('not for the client');
    } else if (url === '/broken') {
      res.writeHead(500, { 'content-type': 'text/plain', 'x-up': 'yes' });
      res.end('upstream error page');
    } else if (url === '/nocontent') {
      res.writeHead(204, { 'x-info': 'from-upstream' });
      res.end();
    } else if (url === '/big') {
      // An endless body: only an aborted upstream request ends it.
      res.writeHead(502, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 120);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      res.on('close', () => bigClosed(res.writableFinished));
      pump();
    } else {
      res.end(`plain ${url}`);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    bigClosed: big,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function site(port: number): string {
  return `
http://site.test:8080 {
	route {
		reverse_proxy 127.0.0.1:${port} {
			@teapot status 418
			replace_status @teapot 200
			@unauth status 401
			handle_response @unauth {
				redir https://login.test/?rd={uri} 302
			}
			@accel header X-Accel-Redirect
			handle_response @accel {
				respond "accel {rp.header.X-Accel-Redirect} {http.reverse_proxy.status_code}" 200
				copy_response_headers {
					include X-Up X-Accel-Redirect
				}
			}
			@err status 5xx
			handle_response @err {
				copy_response 503
				header X-Handled yes
			}
			@empty status 204
			handle_response @empty {
				vars seen yes
			}
		}
		respond "after {rp.status_code} {vars.seen} {rp.header.X-Info}" 200
	}
}
`;
}

test('replace_status relays the upstream response with the new status', async () => {
  const up = await upstream();
  try {
    await withSites(site(up.port), async (request) => {
      const r = await request('/teapot');
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-up'], 'yes');
      assert.equal(r.body.toString(), 'short and stout');
      // No handler matches a plain 200: relayed as it is.
      const plain = await request('/hello');
      assert.equal(plain.status, 200);
      assert.equal(plain.body.toString(), 'plain /hello');
    });
  } finally {
    await up.close();
  }
});

test("an upstream's 401 becomes a redirect to the login page, the upstream's body dropped", async () => {
  const up = await upstream();
  try {
    await withSites(site(up.port), async (request) => {
      const r = await request('/private/doc?x=1');
      assert.equal(r.status, 302);
      assert.equal(r.headers.location, 'https://login.test/?rd=/private/doc?x=1');
      assert.equal(r.headers['www-authenticate'], undefined);
      assert.doesNotMatch(r.body.toString(), /who are you/);
    });
  } finally {
    await up.close();
  }
});

test('copy_response_headers include copies only the listed fields; {rp.*} read the upstream response', async () => {
  const up = await upstream();
  try {
    await withSites(site(up.port), async (request) => {
      const r = await request('/accel');
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'accel /files/a.bin 200');
      assert.equal(r.headers['x-up'], 'yes');
      assert.equal(r.headers['x-accel-redirect'], '/files/a.bin');
      assert.equal(r.headers['x-secret'], undefined);
      assert.notEqual(r.headers['content-type'], 'text/x-up');
    });
  } finally {
    await up.close();
  }
});

test('copy_response after a header op sends the upstream body with the new status and the added header', async () => {
  const up = await upstream();
  try {
    await withSites(site(up.port), async (request) => {
      const r = await request('/broken');
      assert.equal(r.status, 503);
      assert.equal(r.headers['x-handled'], 'yes');
      assert.equal(r.headers['x-up'], 'yes');
      assert.equal(r.body.toString(), 'upstream error page');
    });
  } finally {
    await up.close();
  }
});

test('a handle_response block that answers nothing lets the handlers after reverse_proxy run', async () => {
  const up = await upstream();
  try {
    await withSites(site(up.port), async (request) => {
      const r = await request('/nocontent');
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'after 204 yes from-upstream');
      assert.equal(r.headers['x-info'], undefined);
    });
  } finally {
    await up.close();
  }
});

test('a body no handler copies is not read to the end: the upstream request is aborted', async () => {
  const up = await upstream();
  try {
    await withSites(
      `
http://site.test:8080 {
	reverse_proxy 127.0.0.1:${up.port} {
		@bad status 502
		handle_response @bad {
			respond "replaced" 500
		}
	}
}
`,
      async (request) => {
        const r = await request('/big');
        assert.equal(r.status, 500);
        assert.equal(r.body.toString(), 'replaced');
        const finished = await Promise.race([up.bigClosed, new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 5000).unref())]);
        assert.equal(finished, false, 'the upstream connection of the endless body was closed, unfinished');
        // The proxy still serves after the aborted request.
        assert.equal((await request('/again')).body.toString(), 'plain /again');
      },
    );
  } finally {
    await up.close();
  }
});

test('copy_response_headers exclude; reverse_proxy method and rewrite change only the upstream request', async () => {
  const seen: string[] = [];
  const up = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'x-keep': 'k', 'x-drop': 'd' });
    res.end('upstream body');
  });
  up.listen(0, '127.0.0.1');
  await once(up, 'listening');
  const port = (up.address() as AddressInfo).port;
  try {
    await withSites(
      `
http://site.test:8080 {
	route {
		reverse_proxy /a* 127.0.0.1:${port} {
			method put
			rewrite /new
			handle_response {
				copy_response_headers {
					exclude X-Drop
				}
			}
		}
		reverse_proxy /b* 127.0.0.1:${port} {
			rewrite /other?q={path}
		}
		respond "after {method} {uri}"
	}
}
`,
      async (request) => {
        const a = await request('/a/x?keep=1');
        assert.equal(a.body.toString(), 'after GET /a/x?keep=1');
        assert.equal(a.headers['x-keep'], 'k');
        assert.equal(a.headers['x-drop'], undefined);
        const b = await request('/b/y?gone=1');
        assert.equal(b.body.toString(), 'upstream body');
        // A placeholder's value in the query is query-escaped, as Caddy's buildQueryString does.
        assert.deepEqual(seen, ['PUT /new?keep=1', 'GET /other?q=%2Fb%2Fy']);
      },
    );
  } finally {
    up.closeAllConnections();
    up.close();
  }
});

test('replace_status with a placeholder: an error page fetched in handle_errors keeps the error status (corpus case 30)', async () => {
  const up = await upstream();
  try {
    await withSites(
      `
http://site.test:8080 {
	error /gone* 410
	handle_errors {
		rewrite * /{err.status_code}
		reverse_proxy 127.0.0.1:${up.port} {
			replace_status {err.status_code}
		}
	}
}
`,
      async (request) => {
        const r = await request('/gone/x');
        assert.equal(r.status, 410, 'the status of the error, not the 200 of the page fetched');
        assert.equal(r.body.toString(), 'plain /410');
      },
    );
  } finally {
    await up.close();
  }
});

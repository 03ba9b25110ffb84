/**
 * Parsing of reverse_proxy's response handling (handle_response, replace_status, response
 * matchers, copy_response, copy_response_headers). The proxy does not run them yet, so these
 * tests check the parsed result and the errors, on Caddy's grammar (reverseproxy/caddyfile.go).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, IssueCollector } from '../../../src/config/errors.ts';
import { tokenize } from '../../../src/config/lexer.ts';
import { buildTree, type Node } from '../../../src/config/parser.ts';
import { parseResponseHandling } from '../../../src/config/directives/handle-response.ts';
import { parseContext } from '../../../src/config/directives/site.ts';

function proxyBlock(text: string): readonly Node[] {
  const tree = buildTree(tokenize(`example.com {\n${text}\n}\n`, 'test'));
  const node = tree.sites[0]?.body[0];
  if (node?.block === undefined) throw new Error('no reverse_proxy block');
  return node.block;
}

function parse(text: string): { handlers: ReturnType<typeof parseResponseHandling>; issues: IssueCollector } {
  const issues = new IssueCollector();
  return { handlers: parseResponseHandling(proxyBlock(text), parseContext(issues)), issues };
}

function errorOf(text: string): string {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return 'no error';
}

test('handle_response with a named response matcher, its routes, and replace_status, in the order written', () => {
  const { handlers } = parse(`reverse_proxy localhost:9000 {
	@accel header X-Accel-Redirect *
	@bad {
		status 5xx 404
	}
	replace_status @bad 503
	handle_response @accel {
		rewrite * {rp.header.X-Accel-Redirect}
		copy_response_headers {
			exclude Set-Cookie
		}
		respond "done"
	}
	handle_response {
		copy_response 202
	}
}`);
  assert.equal(handlers.length, 3);
  const [replace, accel, all] = handlers;
  assert.deepEqual(replace, { kind: 'replace_status', pos: replace?.pos, matcher: { status: ['5xx', 404] }, status: 503 });
  assert.equal(accel?.kind, 'handle_response');
  if (accel?.kind !== 'handle_response' || all?.kind !== 'handle_response') return;
  assert.deepEqual(accel.matcher, { headers: [{ name: 'X-Accel-Redirect', values: ['*'] }] });
  assert.deepEqual(accel.routes.map((r) => r.kind), ['rewrite', 'copy_response_headers', 'respond']);
  assert.deepEqual(accel.routes[1], { kind: 'copy_response_headers', pos: accel.routes[1]?.pos, exclude: ['Set-Cookie'] });
  assert.equal(all.matcher, undefined);
  assert.deepEqual(all.routes[0], { kind: 'copy_response', pos: all.routes[0]?.pos, status: 202 });
});

test('handle_response errors name the token: unknown or unnamed matchers, extra arguments, include with exclude', () => {
  assert.match(errorOf('reverse_proxy x {\n\thandle_response @nope {\n\t\trespond x\n\t}\n}'), /test:3:18: no response matcher named @nope/);
  assert.match(errorOf('reverse_proxy x {\n\treplace_status 404 503\n}'), /test:3:17: must use a named response matcher, starting with '@'/);
  assert.match(errorOf('reverse_proxy x {\n\t@m status 404\n\thandle_response @m 200 {\n\t\trespond x\n\t}\n}'), /test:4:21: handle_response: unexpected argument "200"/);
  assert.match(errorOf('reverse_proxy x {\n\t@m foo 1\n}'), /test:3:5: unknown response matcher "foo"/);
  assert.match(errorOf('reverse_proxy x {\n\t@m status 404\n\t@m status 500\n}'), /test:4:2: response matcher @m is defined more than once/);
  assert.match(errorOf('reverse_proxy x {\n\treplace_status 503 {\n\t}\n}'), /replace_status takes no block/);
  const { issues } = parse('reverse_proxy x {\n\thandle_response {\n\t\tcopy_response_headers {\n\t\t\tinclude A\n\t\t\texclude B\n\t\t}\n\t}\n}');
  assert.throws(() => issues.throwIfAny(), /give 'include' or 'exclude', not both/);
});

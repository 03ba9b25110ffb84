/**
 * Caddyfile syntax newer than Caddy 2.6.2 and the placeholder warnings: snippets defined in an
 * imported file keep their {args[N]} for their own import (Caddy ≥ 2.7), heredocs and backtick
 * tokens as `respond` bodies, and `validate`'s warning for unknown placeholders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { parseConfig, type Config } from '../../../src/config/index.ts';
import { tokenize } from '../../../src/config/lexer.ts';
import { buildTree } from '../../../src/config/parser.ts';
import { placeholderWarnings } from '../../../src/config/validate.ts';

function fsOf(files: Record<string, string>): { readFile: (f: string) => Promise<string>; listFiles: (d: string) => Promise<string[]> } {
  return {
    readFile: async (file) => {
      const text = files[file];
      if (text === undefined) throw Object.assign(new Error(`ENOENT ${file}`), { code: 'ENOENT' });
      return text;
    },
    listFiles: async (dir) =>
      Object.keys(files)
        .filter((f) => path.dirname(f) === dir)
        .map((f) => path.basename(f)),
  };
}

function headerValues(config: Config, site: number): (string | undefined)[] {
  return (config.sites[site]?.routes ?? []).flatMap((r) => (r.kind === 'header' ? r.ops.map((op) => op.value) : []));
}

test('a snippet defined in an imported file gets its {args[N]} when it is imported, not when its file is (corpus case 34)', async () => {
  const files = {
    [path.join('c', 'snippets', 'app.conf')]:
      '# {args[0]} is the site, {args[1]} a value\n(app) {\n\t{args[0]} {\n\t\timport ../security.conf\n\t\theader X-Root {args[1]}/public\n\t}\n}\n',
    [path.join('c', 'security.conf')]: 'header X-Sec on\n',
  };
  const config = await parseConfig('import snippets/*\n\nimport app a.example /var/www/app\n', {
    filename: path.join('c', 'Proxyfile'),
    env: {},
    ...fsOf(files),
  });
  assert.deepEqual(
    config.sites.map((s) => s.addresses[0]?.host),
    ['a.example'],
  );
  assert.deepEqual(headerValues(config, 0), ['on', '/var/www/app/public']);
});

test('a file imported with arguments fills them outside its snippets and leaves the snippets their own', async () => {
  const files = {
    [path.join('c', 'lib.conf')]: '(tag) {\n\theader X-Tag {args[0]}\n}\n{args[0]} {\n\timport tag inner\n}\n',
  };
  const config = await parseConfig('import lib.conf outer.example\n', { filename: path.join('c', 'Proxyfile'), env: {}, ...fsOf(files) });
  assert.equal(config.sites[0]?.addresses[0]?.host, 'outer.example');
  assert.deepEqual(headerValues(config, 0), ['inner']);
});

test('{args[N]} of a snippet in the main file is still filled at import, and out of range is still an error', async () => {
  const ok = await parseConfig('(s) {\n\theader X {args[0]}\n}\na.example {\n\timport s v\n}\n', { filename: 'P', env: {} });
  assert.deepEqual(headerValues(ok, 0), ['v']);
  await assert.rejects(
    parseConfig('(s) {\n\theader X {args[1]}\n}\na.example {\n\timport s v\n}\n', { filename: 'P', env: {} }),
    /P:2:11: \{args\[1\]\} is out of range: import at P:5 passes 1 argument\(s\)/,
  );
});

test('respond takes a backtick JSON body and a heredoc body followed by its status', async () => {
  const text = [
    'a.example {',
    '\trespond /.well-known/matrix/server `{"m.server": "matrix.example.com:443"}`',
    '\trespond /page <<HTML',
    '\t\t<html>',
    '\t\t  <body>{host}</body>',
    '\t\t</html>',
    '\t\tHTML 201',
    '}',
    '',
  ].join('\n');
  const config = await parseConfig(text, { filename: 'P', env: {} });
  const bodies = config.sites[0]?.routes.flatMap((r) => (r.kind === 'respond' ? [[r.body, r.status]] : []));
  assert.deepEqual(bodies, [
    ['{"m.server": "matrix.example.com:443"}', 200],
    ['<html>\n  <body>{host}</body>\n</html>', 201],
  ]);
  assert.equal(config.warnings, undefined, 'no placeholder warning for JSON braces or {host}');
});

test('an unknown placeholder is a warning at its FILE:LINE:COL, and the config still loads', async () => {
  const text = [
    'a.example {',
    '\theader X-T "a{tls_protocol}b"',
    '\treverse_proxy localhost:81 {',
    '\t\theader_up X-Forwarded-TlsProto {tls_protocol}',
    '\t\theader_up X-Forwarded-Port {http.request.port}',
    '\t\theader_up X-Real-IP {client_ip}',
    '\t\theader_up X-Mixed {header.X-A}{cookie.c}{query.k}{vars.v}{re.n.1}{env.HOME}{labels.0}{time.now.unix}',
    '\t\theader_up X-Proto {proto}',
    '\t}',
    '}',
    '',
  ].join('\n');
  const config = await parseConfig(text, { filename: 'P', env: {} });
  assert.equal(config.sites.length, 1);
  assert.deepEqual(config.warnings, [
    { file: 'P', line: 2, col: 15, message: 'unknown placeholder {tls_protocol} (left as written, as Caddy does)' },
    { file: 'P', line: 4, col: 34, message: 'unknown placeholder {tls_protocol} (left as written, as Caddy does)' },
    { file: 'P', line: 8, col: 21, message: 'unknown placeholder {proto} (left as written, as Caddy does)' },
  ]);
});

test('braces that are not placeholders are not flagged: regexp quantifiers, JSON, map outputs; map destinations are known', () => {
  const text = [
    'a.example {',
    '\t@v path_regexp v ^/api/(v\\d{1,2})/[a-z]{0,64}$',
    '\tmap {host} {backend} {',
    '\t\t~^a{2}$ {not_a_name}',
    '\t\tdefault x',
    '\t}',
    '\trespond `{"a": {"b": 1}}`',
    '\treverse_proxy {backend}',
    '\trespond <<EOF',
    '\t\tbody { margin: 0 } {nope}',
    '\t\tEOF',
    '}',
  ].join('\n');
  const warnings = placeholderWarnings(buildTree(tokenize(text, 'P', { env: {} })));
  // In a heredoc, the position is the placeholder's own line, its column counting the indentation.
  assert.deepEqual(warnings, [{ file: 'P', line: 10, col: 22, message: 'unknown placeholder {nope} (left as written, as Caddy does)' }]);
});

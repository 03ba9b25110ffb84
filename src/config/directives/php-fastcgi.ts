/**
 * `php_fastcgi` (Caddy's modules/caddyhttp/reverseproxy/fastcgi/caddyfile.go):
 *
 *     php_fastcgi [MATCHER] UPSTREAMS… {
 *         root PATH
 *         split SUBSTRINGS…
 *         index FILENAME|off
 *         try_files FILES…
 *         env [KEY VALUE]
 *         resolve_root_symlink
 *         dial_timeout DURATION
 *         read_timeout DURATION
 *         write_timeout DURATION
 *         capture_stderr
 *         lb_policy round_robin|first|random
 *     }
 *
 * Upstreams are `host:port` or `unix//path` FastCGI servers. Caddy also accepts reverse_proxy's
 * subdirectives here; of those my-server takes lb_policy round_robin/first/random, and names the
 * others (health checks, header_up…) in its error rather than ignoring them.
 */
import { configError, posOf } from '../errors.ts';
import type { Node } from '../parser.ts';
import type { PhpFastcgiRoute, UpstreamConfig } from '../types.ts';
import { durationArg } from '../values.ts';
import { argsOf, Once, oneArg, splitMatcher, withArgs } from './helpers.ts';
import { parseUpstream } from './upstream.ts';

const USAGE = 'php_fastcgi [MATCHER] UPSTREAMS… { root; split; index; try_files; env; resolve_root_symlink; dial_timeout; read_timeout; write_timeout; capture_stderr; lb_policy }';

/** Caddy's fastcgi transport default dial timeout. */
const DEFAULT_DIAL_TIMEOUT_MS = 3000;

const PROXY_SUBDIRECTIVES = new Set([
  'to',
  'lb_retries',
  'lb_try_duration',
  'lb_try_interval',
  'health_uri',
  'health_port',
  'health_interval',
  'health_timeout',
  'health_status',
  'fail_duration',
  'max_fails',
  'unhealthy_status',
  'header_up',
  'header_down',
  'flush_interval',
  'transport',
  'handle_response',
  'buffer_requests',
  'request_buffers',
  'response_buffers',
]);

export function parsePhpFastcgi(node: Node): PhpFastcgiRoute {
  const { matcher, args } = splitMatcher(node);
  const targets = argsOf(withArgs(node, args), 1, Infinity, USAGE);
  const upstreams: UpstreamConfig[] = [];
  for (const t of targets) {
    const parsed = parseUpstream(t);
    for (const u of parsed.upstreams) {
      if (u.scheme === 'https') throw configError(t, `php_fastcgi: upstream "${t.text}": FastCGI over TLS is not supported (use host:port or unix//path)`);
      upstreams.push(u);
    }
  }
  let root: string | undefined;
  let split = ['.php'];
  let index: string | false = 'index.php';
  let tryFiles: string[] = [];
  const env: [string, string][] = [];
  let resolveRootSymlink = false;
  let dialTimeoutMs = DEFAULT_DIAL_TIMEOUT_MS;
  let readTimeoutMs = 0;
  let writeTimeoutMs = 0;
  let captureStderr = false;
  let lbPolicy: PhpFastcgiRoute['lbPolicy'] = 'round_robin';
  const once = new Once();
  for (const sub of node.block ?? []) {
    const name = sub.name.text;
    if (name !== 'env') once.check(sub);
    if (sub.open !== undefined) throw configError(sub.open, `php_fastcgi ${name} does not take a block`);
    switch (name) {
      case 'root':
        root = oneArg(sub, 'root PATH').text;
        break;
      case 'split':
        split = argsOf(sub, 1, Infinity, 'split SUBSTRINGS…').map((t) => t.text);
        break;
      case 'index': {
        const f = oneArg(sub, 'index FILENAME|off').text;
        if (f.includes('/')) throw configError(sub.name, `php_fastcgi index: "${f}" must be a file name, not a path`);
        index = f === 'off' ? false : f;
        break;
      }
      case 'try_files':
        tryFiles = argsOf(sub, 1, Infinity, 'try_files FILES…').map((t) => t.text);
        break;
      case 'env': {
        const kv = argsOf(sub, 2, 2, 'env KEY VALUE');
        env.push([(kv[0] as { text: string }).text, (kv[1] as { text: string }).text]);
        break;
      }
      case 'resolve_root_symlink':
        argsOf(sub, 0, 0, 'resolve_root_symlink');
        resolveRootSymlink = true;
        break;
      case 'dial_timeout':
        dialTimeoutMs = durationArg(oneArg(sub, 'dial_timeout DURATION'));
        break;
      case 'read_timeout':
        readTimeoutMs = durationArg(oneArg(sub, 'read_timeout DURATION'), { allowZero: true });
        break;
      case 'write_timeout':
        writeTimeoutMs = durationArg(oneArg(sub, 'write_timeout DURATION'), { allowZero: true });
        break;
      case 'capture_stderr':
        argsOf(sub, 0, 0, 'capture_stderr');
        captureStderr = true;
        break;
      case 'lb_policy': {
        const p = oneArg(sub, 'lb_policy round_robin|first|random');
        if (p.text !== 'round_robin' && p.text !== 'first' && p.text !== 'random') {
          throw configError(p, `php_fastcgi lb_policy: "${p.text}" is not supported in php_fastcgi yet (use round_robin, first or random)`);
        }
        lbPolicy = p.text;
        break;
      }
      default:
        if (PROXY_SUBDIRECTIVES.has(name)) {
          throw configError(sub.name, `php_fastcgi ${name}: reverse_proxy subdirectives are not supported in php_fastcgi yet (see docs/configuration.md)`);
        }
        throw configError(sub.name, `unknown subdirective "${name}" in php_fastcgi (usage: ${USAGE})`);
    }
  }
  return {
    kind: 'php_fastcgi',
    pos: posOf(node.name),
    ...(matcher ? { matcher } : {}),
    upstreams,
    ...(root !== undefined ? { root } : {}),
    split,
    index,
    tryFiles,
    env,
    resolveRootSymlink,
    dialTimeoutMs,
    readTimeoutMs,
    writeTimeoutMs,
    captureStderr,
    lbPolicy,
  };
}

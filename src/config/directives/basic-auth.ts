/**
 * `basic_auth` and its older spelling `basicauth` (Caddy's caddyauth/caddyfile.go):
 *
 *     basic_auth [MATCHER] [bcrypt|argon2id [REALM]] {
 *         USERNAME HASH
 *     }
 *
 * HASH as `caddy hash-password` or `my-server hash-password` prints it, or base64-encoded; the
 * algorithm argument must agree with the hashes (checked here, so a wrong paste fails at load).
 */
import { normalizeHash } from '../../auth/passwords.ts';
import { configError, posOf } from '../errors.ts';
import type { Node } from '../parser.ts';
import type { BasicAuthRoute } from '../types.ts';
import { argsOf, needBlock, noBlock, splitMatcher, withArgs } from './helpers.ts';

export function parseBasicAuth(node: Node): BasicAuthRoute {
  const usage = `${node.name.text} [MATCHER] [bcrypt|argon2id [REALM]] { USERNAME HASH … }`;
  const { matcher, args } = splitMatcher(node);
  const [algo, realm] = argsOf(withArgs(node, args), 0, 2, usage);
  if (algo !== undefined && algo.text !== 'bcrypt' && algo.text !== 'argon2id') {
    throw configError(algo, `${node.name.text}: unsupported hash algorithm "${algo.text}" (use bcrypt or argon2id)`);
  }
  const users: { name: string; algorithm: 'bcrypt' | 'argon2id'; hash: string }[] = [];
  for (const line of needBlock(node, usage)) {
    noBlock(line);
    const [hash] = argsOf(line, 1, 1, 'USERNAME HASH');
    if (hash === undefined) continue;
    const name = line.name.text;
    if (users.some((u) => u.name === name)) throw configError(line.name, `${node.name.text}: user "${name}" is listed twice`);
    const h = normalizeHash(hash.text);
    if (h === undefined) throw configError(hash, `${node.name.text}: "${name}" has no bcrypt or argon2id hash (make one with: my-server hash-password)`);
    if (algo !== undefined && h.algorithm !== algo.text) throw configError(hash, `${node.name.text}: the hash of "${name}" is ${h.algorithm}, not ${algo.text}`);
    users.push({ name, ...h });
  }
  if (users.length === 0) throw configError(node.name, `${node.name.text}: no users (usage: ${usage})`);
  return {
    kind: 'basic_auth',
    ...(node.name.text === 'basicauth' ? { directive: 'basicauth' } : {}),
    pos: posOf(node.name),
    ...(matcher ? { matcher } : {}),
    realm: realm?.text ?? 'restricted',
    users,
  };
}

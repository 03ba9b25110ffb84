/**
 * The `order` global option (Caddy's): moves a handler directive in the directive order table.
 *
 *     order DIRECTIVE first|last
 *     order DIRECTIVE before|after OTHER
 */
import { DEFAULT_DIRECTIVE_ORDER, type OrderRule } from '../directive-order.ts';
import { configError } from '../errors.ts';
import type { Node } from '../parser.ts';
import { argsOf, noBlock } from './helpers.ts';

export function parseOrder(node: Node): OrderRule {
  noBlock(node);
  const usage = 'order DIRECTIVE first|last|before OTHER|after OTHER';
  const [dir, position, other] = argsOf(node, 2, 3, usage);
  if (dir === undefined || position === undefined) throw configError(node.name, `order: missing argument (usage: ${usage})`);
  if (!DEFAULT_DIRECTIVE_ORDER.includes(dir.text)) {
    throw configError(dir, `order: "${dir.text}" is not a handler directive my-server knows (plugins are not supported)`);
  }
  switch (position.text) {
    case 'first':
    case 'last':
      if (other !== undefined) throw configError(other, `order: unexpected argument "${other.text}" (usage: ${usage})`);
      return { directive: dir.text, position: position.text };
    case 'before':
    case 'after':
      if (other === undefined) throw configError(position, `order: ${position.text} what? (usage: ${usage})`);
      if (!DEFAULT_DIRECTIVE_ORDER.includes(other.text)) throw configError(other, `order: unknown directive "${other.text}"`);
      if (other.text === dir.text) throw configError(other, 'order: a directive cannot be ordered relative to itself');
      return { directive: dir.text, position: position.text, other: other.text };
    default:
      throw configError(position, `order: unknown position "${position.text}" (use first, last, before or after)`);
  }
}

/**
 * Header operations (the `header` directive, `header_up`, `header_down`): the one implementation,
 * for requests to upstreams and responses to clients alike. Caddy's rules
 * (modules/caddyhttp/headers/headers.go, HeaderOps.ApplyTo):
 *
 * - set replaces every value of the field, add appends one, delete removes the field, default sets
 *   only an absent field, replace rewrites every value by regexp (`*`: of every field);
 * - names compare case-insensitively;
 * - a deleted name may use Caddy's "basic wildcards": `*` alone is every field, `*x*` every field
 *   containing x, `*x` every field ending in x, `x*` every field starting with x; a `*` anywhere
 *   else is part of an exact name;
 * - values expand request placeholders; which ones the caller knows is the caller's (Caddy's
 *   ReplaceKnown: an unknown placeholder stays as written).
 *
 * Operations run in the order given. The config lists them in Caddy's order already (`-*`, adds,
 * sets and defaults, other deletes, replaces: config/directives/simple.ts applicationOrder), so a `-*` never removes a
 * field the same directive adds.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { HeaderOp } from '../config/types.ts';

/**
 * Header fields the operations edit. ServerResponse and Http2ServerResponse are such targets as
 * they are; `headerFields` makes one of a plain header object. `getHeaderNames` gives lower-case names.
 */
export interface HeaderTarget {
  getHeaderNames(): string[];
  getHeader(name: string): number | string | string[] | undefined;
  setHeader(name: string, value: string | string[]): unknown;
  removeHeader(name: string): void;
}

/** Apply `ops` to `target` in order; `expand` turns a value's placeholders into text. */
export function applyHeaderOps(target: HeaderTarget, ops: readonly HeaderOp[], expand: (value: string) => string): void {
  for (const op of ops) {
    switch (op.op) {
      case 'delete':
        deleteFields(target, op.name);
        break;
      case 'set':
        target.setHeader(op.name, expand(op.value ?? ''));
        break;
      case 'default':
        // Caddy's `?NAME`: a response matcher requiring the field to be absent.
        if (target.getHeader(op.name) === undefined) target.setHeader(op.name, expand(op.value ?? ''));
        break;
      case 'add': {
        const value = expand(op.value ?? '');
        const prev = target.getHeader(op.name);
        if (prev === undefined) target.setHeader(op.name, value);
        else target.setHeader(op.name, [...valuesOf(prev), value]);
        break;
      }
      case 'replace':
        replaceValues(target, op, expand);
        break;
    }
  }
}

/**
 * Caddy's Replacement with SearchRegexp: every match in every value of the field (all fields for
 * `*`) is replaced, the replacement's placeholders expanded first. The RegExp is built per call:
 * V8 caches compiled patterns by source and flags, and the config stays plain data.
 */
/**
 * Each replace op's RegExp, compiled on first use and kept with the op (the config stays plain
 * data; a reload's new ops get their own). String.replace with a global RegExp resets lastIndex,
 * so sharing one across requests is safe.
 */
const compiled = new WeakMap<HeaderOp, RegExp>();

function replaceValues(target: HeaderTarget, op: HeaderOp, expand: (value: string) => string): void {
  let re = compiled.get(op);
  if (re === undefined) {
    re = new RegExp(op.search ?? '', `${op.searchFlags ?? ''}g`);
    compiled.set(op, re);
  }
  const replacement = expand(op.replace ?? '');
  const names = op.name === '*' ? target.getHeaderNames() : [op.name];
  for (const name of names) {
    const prev = target.getHeader(name);
    if (prev === undefined) continue;
    const next = valuesOf(prev).map((v) => v.replace(re, replacement));
    target.setHeader(name, Array.isArray(prev) ? next : next[0]!);
  }
}

function valuesOf(value: number | string | string[]): string[] {
  return Array.isArray(value) ? value : [String(value)];
}

/** Caddy's wildcard rule for deleted field names, compiled: see the module comment. */
export function fieldNameMatcher(pattern: string): (name: string) => boolean {
  const p = pattern.toLowerCase();
  if (p.length >= 2 && p.startsWith('*') && p.endsWith('*')) {
    const inner = p.slice(1, -1);
    return (name) => name.toLowerCase().includes(inner);
  }
  if (p.startsWith('*')) {
    const suffix = p.slice(1);
    return (name) => name.toLowerCase().endsWith(suffix);
  }
  if (p.endsWith('*')) {
    const prefix = p.slice(0, -1);
    return (name) => name.toLowerCase().startsWith(prefix);
  }
  return (name) => name.toLowerCase() === p;
}

/** A plain header object (lower-case names, as Node gives and undici takes) as a HeaderTarget. */
export function headerFields(headers: OutgoingHttpHeaders): HeaderTarget {
  return {
    getHeaderNames: () => Object.keys(headers),
    getHeader: (name) => headers[name.toLowerCase()],
    setHeader: (name, value) => {
      headers[name.toLowerCase()] = value;
    },
    removeHeader: (name) => {
      delete headers[name.toLowerCase()];
    },
  };
}

function deleteFields(target: HeaderTarget, pattern: string): void {
  if (!pattern.startsWith('*') && !pattern.endsWith('*')) {
    target.removeHeader(pattern);
    return;
  }
  const matches = fieldNameMatcher(pattern);
  for (const name of target.getHeaderNames()) if (matches(name)) target.removeHeader(name);
}

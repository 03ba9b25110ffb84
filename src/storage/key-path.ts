import { MyServerError } from '../errors.ts';

/**
 * The top-level folder that holds lock files in file storage. Every Storage rejects keys inside it,
 * so code that runs against Redis also runs against a directory.
 */
export const LOCKS_FOLDER = 'locks';

/**
 * Checks a '/'-separated key and returns it. Rejected with MS_ERR_STORAGE, naming the key: empty
 * keys or segments (so no leading, trailing or doubled '/'), segments starting with '.' (this rules
 * out '.', '..' and the names file storage gives its temp files), NUL, backslash, and keys in the
 * reserved locks folder. The same rules hold for every implementation, so a key is portable.
 */
export function validateKey(key: string): string {
  const reason = keyProblem(key);
  if (reason !== undefined) {
    throw new MyServerError('MS_ERR_STORAGE', `invalid storage key ${JSON.stringify(key)}: ${reason}`);
  }
  return key;
}

/** A list prefix: '' (the root) or a valid key; one trailing '/' is tolerated. */
export function validatePrefix(prefix: string): string {
  if (prefix === '' || prefix === '/') return '';
  return validateKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
}

/** Lock names are free text (e.g. "issue_cert_a.test"); only empty names and NUL are refused. */
export function validateLockName(name: string): string {
  if (name === '' || name.includes('\0')) {
    throw new MyServerError('MS_ERR_STORAGE', `invalid lock name ${JSON.stringify(name)}: empty or contains NUL`);
  }
  return name;
}

function keyProblem(key: string): string | undefined {
  if (typeof key !== 'string' || key === '') return 'empty';
  if (key.startsWith('/')) return 'absolute paths are not keys';
  if (key.includes('\0')) return 'contains NUL';
  if (key.includes('\\')) return 'contains a backslash';
  const segments = key.split('/');
  if (segments.some((s) => s === '')) return 'empty segment';
  if (segments.some((s) => s.startsWith('.'))) return "a segment starts with '.'";
  if (segments[0] === LOCKS_FOLDER) return `"${LOCKS_FOLDER}/" is reserved for locks`;
  return undefined;
}

/** The immediate child of `prefix` that `key` lies under (itself when it is a direct child). */
export function childOf(prefix: string, key: string): string {
  const rest = prefix === '' ? key : key.slice(prefix.length + 1);
  const slash = rest.indexOf('/');
  return slash === -1 ? key : key.slice(0, key.length - rest.length + slash);
}

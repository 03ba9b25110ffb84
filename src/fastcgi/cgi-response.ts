/**
 * The CGI response header block at the start of a FastCGI responder's STDOUT (RFC 3875 section
 * 6): header lines up to a blank line, `Status: CODE [REASON]` giving the status (200 without it,
 * 302 for a Location without it, as RFC 3875 6.2.3/6.3.3 and Go's net/http/cgi read it).
 */

/** Bounds the header block; a script printing its body without headers must not grow this forever. */
export const MAX_HEADER_BYTES = 128 * 1024;

export interface CgiHead {
  readonly status: number;
  /** In the order sent; repeated names stay repeated (Set-Cookie). */
  readonly headers: readonly (readonly [string, string])[];
}

/** Where the header block ends in `buf`: [end of the lines, start of the body], or undefined. */
export function headerEnd(buf: Buffer): readonly [number, number] | undefined {
  // Scripts end header lines with CRLF or a bare LF; the first blank line of either kind ends the block.
  for (let i = 0; i < buf.length; i++) {
    if (buf[i] !== 0x0a) continue;
    if (buf[i + 1] === 0x0a) return [i, i + 2];
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return [i, i + 3];
    if (i === 0) return [0, 1];
  }
  if (buf[0] === 0x0d && buf[1] === 0x0a) return [0, 2];
  return undefined;
}

export function parseCgiHead(block: string): CgiHead {
  let status: number | undefined;
  let location = false;
  const headers: [string, string][] = [];
  let last: [string, string] | undefined;
  for (const raw of block.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    if ((line.startsWith(' ') || line.startsWith('\t')) && last !== undefined) {
      // An obsolete folded continuation line belongs to the header before it.
      last[1] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed CGI header line "${line.slice(0, 80)}"`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new Error(`malformed CGI header name "${name.slice(0, 80)}"`);
    if (name.toLowerCase() === 'status') {
      const m = /^(\d{3})(?:\s|$)/.exec(value);
      if (m === null) throw new Error(`malformed CGI Status "${value.slice(0, 80)}"`);
      status = Number(m[1]);
      continue;
    }
    if (name.toLowerCase() === 'location') location = true;
    last = [name, value];
    headers.push(last);
  }
  return { status: status ?? (location ? 302 : 200), headers };
}

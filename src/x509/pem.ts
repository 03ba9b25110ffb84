/**
 * PEM armour (RFC 7468): base64 of DER between BEGIN/END lines, 64 characters a line. Internal to x509/.
 *
 * Kept rather than @peculiar/x509's PemConverter, whose reader wants bare "\n"-ended base64 lines
 * and silently skips a block with, say, a trailing space; chains pasted by hand have those.
 */
export function pemEncode(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(new Uint8Array(der)).toString('base64');
  // Lines of 64 (RFC 7468 §2) by slicing: the regex replace it replaces was ~70 µs per certificate issued.
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  const body = lines.join('\n');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** The DER of every `label` block in `text`, in order. */
export function pemBlocks(text: string, label: string): Buffer[] {
  const pattern = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, 'g');
  return [...text.matchAll(pattern)].map((m) => Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'));
}

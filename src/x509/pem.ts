/** PEM armour (RFC 7468): base64 of DER between BEGIN/END lines, 64 characters a line. */
import { MyServerError } from '../errors.ts';

export function pemEncode(der: Uint8Array, label: string): string {
  const body = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

/** The DER of every `label` block in `text`, in order. */
export function pemBlocks(text: string, label: string): Buffer[] {
  const pattern = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, 'g');
  return [...text.matchAll(pattern)].map((m) => Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'));
}

/** The DER of the first `label` block in `text`. */
export function pemDecode(text: string, label: string): Buffer {
  const [first] = pemBlocks(text, label);
  if (first === undefined || first.length === 0) throw new MyServerError('MS_ERR_X509', `no ${label} PEM block found`);
  return first;
}

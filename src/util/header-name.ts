/**
 * Go's http.CanonicalHeaderKey (textproto.CanonicalMIMEHeaderKey): the form Caddy gives header
 * names in placeholders such as {http.reverse_proxy.header.Remote-User}, which are looked up as written.
 */
export function canonicalHeaderName(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/**
 * The site `tls` directive:
 *
 *     tls internal
 *     tls EMAIL
 *     tls CERT_FILE KEY_FILE
 *     tls [internal|EMAIL|CERT_FILE KEY_FILE] {
 *         on_demand
 *         issuer acme [URL] [{ dir URL; email ADDR; profile NAME; eab KEY_ID MAC_KEY;
 *                              disable_http_challenge; disable_tlsalpn_challenge; preferred_chains … }]
 *         issuer internal [{ ca local; lifetime D; sign_with_root }]      (see issuer.ts)
 *         ca URL                        (ours; Caddy's is issuer acme { dir URL })
 *         eab KEY_ID MAC_KEY
 *         key_type p256|p384|rsa2048|rsa4096
 *         challenges tls-alpn-01|http-01...   (ours; Caddy's is issuer acme { disable_*_challenge })
 *         dns PROVIDER …; propagation_delay D; propagation_timeout D|-1; resolvers IP...; dns_ttl D   (dns.ts)
 *     }
 *
 * Contradictions are errors: an internal issuer with `ca`, `challenges`, `eab` or an email; a
 * certificate file pair with any issuer setting or `on_demand`; the same value set twice (`ca` and
 * `issuer acme URL`, `challenges` and `disable_*_challenge`, `tls EMAIL` and `issuer acme { email }`).
 */
import { configError, posOf } from '../errors.ts';
import type { TlsDraft } from '../draft.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { Challenge } from '../types.ts';
import { emailArg, urlArg } from '../values.ts';
import { keyTypeArg, unknownSub } from './global-options.ts';
import { argsOf, noBlock, Once, oneArg } from './helpers.ts';
import { parseIssuer, type AcmeIssuerDraft } from './issuer.ts';
import { parseTlsDns, TLS_DNS_SUBDIRECTIVES } from './dns.ts';

const CHALLENGES: readonly Challenge[] = ['tls-alpn-01', 'http-01'];

export function parseTls(node: Node): TlsDraft {
  const usage = 'tls internal | tls EMAIL | tls CERT_FILE KEY_FILE | tls { … }';
  const args = argsOf(node, node.block === undefined ? 1 : 0, 2, usage);
  const draft: TlsDraft = { pos: posOf(node.name) };
  const [first, second] = args;
  if (second !== undefined) {
    draft.mode = 'manual';
    draft.certFile = (first as Token).text;
    draft.keyFile = second.text;
  } else if (first !== undefined) {
    if (first.text === 'internal') {
      draft.mode = 'internal';
    } else if (first.text.includes('@')) {
      draft.mode = 'acme';
      draft.email = emailArg(first);
    } else {
      throw configError(first, `tls: a single argument must be "internal" or an email address (usage: ${usage})`);
    }
  }

  const once = new Once();
  let issuerTok: Token | undefined;
  let issuer: 'acme' | 'internal' | undefined;
  let acmeOnly: Token | undefined;
  let acmeIssuer: AcmeIssuerDraft | undefined;
  for (const sub of node.block ?? []) {
    once.check(sub);
    // DNS-01 settings (dns.ts); `dns PROVIDER { … }` has a block of its own.
    if (TLS_DNS_SUBDIRECTIVES.includes(sub.name.text)) {
      acmeOnly ??= sub.name;
      parseTlsDns(sub, draft);
      continue;
    }
    if (sub.name.text !== 'issuer') noBlock(sub);
    switch (sub.name.text) {
      case 'on_demand':
        argsOf(sub, 0, 0, 'on_demand');
        if (draft.mode === 'manual') throw configError(sub.name, 'tls: on_demand cannot be combined with a certificate file pair');
        draft.onDemand = true;
        draft.onDemandPos = posOf(sub.name);
        break;
      case 'issuer': {
        issuerTok = sub.args[0];
        const parsed = parseIssuer(sub);
        issuer = parsed.kind;
        if (parsed.kind === 'acme') acmeIssuer = parsed;
        break;
      }
      case 'eab': {
        acmeOnly ??= sub.name;
        const [keyId, macKey] = argsOf(sub, 2, 2, 'eab KEY_ID MAC_KEY') as [Token, Token];
        draft.eab = { keyId: keyId.text, macKey: macKey.text };
        break;
      }
      case 'ca':
        acmeOnly ??= sub.name;
        draft.ca = urlArg(oneArg(sub, 'ca URL'), 'ACME directory URL');
        break;
      case 'key_type':
        draft.keyType = keyTypeArg(oneArg(sub, 'key_type p256|p384|rsa2048|rsa4096'));
        break;
      case 'challenges': {
        acmeOnly ??= sub.name;
        const list: Challenge[] = [];
        for (const tok of argsOf(sub, 1, Infinity, 'challenges tls-alpn-01|http-01...')) {
          if (!(CHALLENGES as readonly string[]).includes(tok.text)) {
            throw configError(tok, `tls: unsupported challenge "${tok.text}" (use tls-alpn-01 or http-01)`);
          }
          if (list.includes(tok.text as Challenge)) throw configError(tok, `tls: challenge "${tok.text}" is listed twice`);
          list.push(tok.text as Challenge);
        }
        draft.challenges = list;
        break;
      }
      default:
        throw unknownSub(sub, 'tls');
    }
  }

  if (acmeIssuer !== undefined) mergeAcmeIssuer(draft, acmeIssuer, issuerTok as Token);
  if (draft.mode === 'manual' && (issuerTok ?? acmeOnly) !== undefined) {
    throw configError((issuerTok ?? acmeOnly) as Token, 'tls: a certificate file pair cannot be combined with issuer, ca or challenges');
  }
  if (issuer === 'internal' && draft.mode === 'acme') {
    throw configError(issuerTok as Token, 'tls: an email address needs the acme issuer, not internal');
  }
  if (issuer === 'acme' && draft.mode === 'internal') {
    throw configError(issuerTok as Token, 'tls: "tls internal" contradicts "issuer acme"');
  }
  const internal = draft.mode === 'internal' || issuer === 'internal';
  if (internal && acmeOnly !== undefined) {
    throw configError(acmeOnly, `tls: ${acmeOnly.text} needs the acme issuer, not internal`);
  }
  // One field says who issues (TlsConfig.mode): `issuer` and `ca` only set it when the arguments did not.
  if (draft.mode === undefined) {
    if (issuer !== undefined) draft.mode = issuer;
    else if (draft.ca !== undefined) draft.mode = 'acme';
  }
  return draft;
}

/**
 * The values of `issuer acme { … }` into the site's draft; one that the `tls` arguments or another
 * subdirective already set is a contradiction, reported at the issuer.
 */
function mergeAcmeIssuer(draft: TlsDraft, i: AcmeIssuerDraft, at: Token): void {
  const twice = (what: string): never => {
    throw configError(at, `tls: ${what} is set both by issuer acme and outside it`);
  };
  if (i.ca !== undefined) {
    if (draft.ca !== undefined) twice('the ACME directory');
    draft.ca = i.ca;
  }
  if (i.email !== undefined) {
    if (draft.email !== undefined) twice('the email address');
    draft.email = i.email;
  }
  if (i.eab !== undefined) {
    if (draft.eab !== undefined) twice('eab');
    draft.eab = i.eab;
  }
  if (i.challenges !== undefined) {
    if (draft.challenges !== undefined) twice('the challenge list');
    draft.challenges = i.challenges;
  }
  if (i.profile !== undefined) draft.profile = i.profile;
  if (i.preferredChains !== undefined) draft.preferredChains = i.preferredChains;
}

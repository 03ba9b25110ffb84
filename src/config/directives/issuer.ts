/**
 * Caddy's issuer modules, shared by the global `cert_issuer` option and the site's
 * `tls { issuer … }` subdirective:
 *
 *     acme [DIRECTORY_URL] {
 *         dir URL
 *         test_dir URL                  (accepted, not applied: failed orders are retried, not sent elsewhere)
 *         email ADDR
 *         profile NAME
 *         eab KEY_ID MAC_KEY
 *         disable_http_challenge
 *         disable_tlsalpn_challenge
 *         timeout D                     (accepted, not applied)
 *         preferred_chains [smallest] { root_common_name CN...; any_common_name CN... }
 *     }
 *     internal {
 *         ca local
 *         lifetime D                    (accepted, not applied)
 *         sign_with_root                (accepted, not applied)
 *     }
 *
 * `dns …`, `propagation_*` and `resolvers` belong to the DNS-01 work (ACME_SUBS is where they go).
 * Each subdirective may appear once.
 */
import { configError } from '../errors.ts';
import type { Token } from '../lexer.ts';
import type { Node } from '../parser.ts';
import type { Challenge, PreferredChains } from '../types.ts';
import { durationArg, emailArg, urlArg } from '../values.ts';
import { argsOf, noBlock, Once, oneArg } from './helpers.ts';

export interface AcmeIssuerDraft {
  kind: 'acme';
  ca?: string;
  email?: string;
  profile?: string;
  eab?: { keyId: string; macKey: string };
  /** Absent: every challenge (nothing disabled). */
  challenges?: Challenge[];
  preferredChains?: PreferredChains;
}

export type IssuerDraft = AcmeIssuerDraft | { kind: 'internal' };

/** The challenges my-server answers in-process, in the order they are tried. */
const ALL_CHALLENGES: readonly Challenge[] = ['tls-alpn-01', 'http-01'];

type AcmeSub = (sub: Node, draft: AcmeIssuerDraft, disabled: Set<Challenge>) => void;

const ACME_SUBS: Readonly<Record<string, AcmeSub>> = {
  dir(sub, d) {
    noBlock(sub);
    d.ca = urlArg(oneArg(sub, 'dir URL'), 'ACME directory URL');
  },
  test_dir(sub) {
    noBlock(sub);
    urlArg(oneArg(sub, 'test_dir URL'), 'ACME directory URL');
  },
  email(sub, d) {
    noBlock(sub);
    d.email = emailArg(oneArg(sub, 'email ADDR'));
  },
  profile(sub, d) {
    noBlock(sub);
    d.profile = oneArg(sub, 'profile NAME').text;
  },
  eab(sub, d) {
    noBlock(sub);
    const [keyId, macKey] = argsOf(sub, 2, 2, 'eab KEY_ID MAC_KEY') as [Token, Token];
    d.eab = { keyId: keyId.text, macKey: macKey.text };
  },
  disable_http_challenge(sub, _d, disabled) {
    noBlock(sub);
    argsOf(sub, 0, 0, 'disable_http_challenge');
    disabled.add('http-01');
  },
  disable_tlsalpn_challenge(sub, _d, disabled) {
    noBlock(sub);
    argsOf(sub, 0, 0, 'disable_tlsalpn_challenge');
    disabled.add('tls-alpn-01');
  },
  timeout(sub) {
    noBlock(sub);
    durationArg(oneArg(sub, 'timeout D'));
  },
  preferred_chains(sub, d) {
    d.preferredChains = parsePreferredChains(sub);
  },
};

/**
 * `NAME acme [URL] { … }` or `NAME internal { … }` where NAME is `issuer` or `cert_issuer`; the
 * issuer module is the node's first argument.
 */
export function parseIssuer(node: Node): IssuerDraft {
  const usage = `${node.name.text} acme [DIRECTORY_URL] [{ … }] | ${node.name.text} internal [{ … }]`;
  const [module, url] = argsOf(node, 1, 2, usage) as [Token, Token | undefined];
  if (module.text === 'internal') {
    if (url !== undefined) throw configError(url, `${node.name.text} internal: unexpected argument "${url.text}" (usage: ${usage})`);
    parseInternal(node);
    return { kind: 'internal' };
  }
  if (module.text !== 'acme') {
    const hint = module.text === 'zerossl' ? ' (ZeroSSL: use acme with its directory URL and eab)' : '';
    throw configError(module, `${node.name.text}: unsupported issuer "${module.text}"${hint} (use acme or internal)`);
  }
  const draft: AcmeIssuerDraft = { kind: 'acme' };
  if (url !== undefined) draft.ca = urlArg(url, 'ACME directory URL');
  const once = new Once();
  const disabled = new Set<Challenge>();
  for (const sub of node.block ?? []) {
    const parse = Object.hasOwn(ACME_SUBS, sub.name.text) ? ACME_SUBS[sub.name.text] : undefined;
    if (parse === undefined) throw configError(sub.name, `unknown subdirective "${sub.name.text}" in ${node.name.text} acme`);
    once.check(sub);
    if (sub.name.text === 'dir' && url !== undefined) throw configError(sub.name, `${node.name.text} acme: the directory URL is already given as an argument`);
    parse(sub, draft, disabled);
  }
  if (disabled.size > 0) {
    const left = ALL_CHALLENGES.filter((c) => !disabled.has(c));
    // With DNS-01 (its own subdirectives here) an empty list will be valid; until then nothing could validate.
    if (left.length === 0) throw configError(node.name, `${node.name.text} acme: every challenge is disabled, so no certificate could be validated`);
    draft.challenges = left;
  }
  return draft;
}

function parseInternal(node: Node): void {
  const once = new Once();
  for (const sub of node.block ?? []) {
    once.check(sub);
    noBlock(sub);
    switch (sub.name.text) {
      case 'ca': {
        // Caddy's `pki` option, which defines other CAs, is not supported: only the built-in one exists.
        const id = oneArg(sub, 'ca local');
        if (id.text !== 'local') throw configError(id, `${node.name.text} internal: unknown CA "${id.text}" (only the built-in "local" CA exists)`);
        break;
      }
      case 'lifetime':
        durationArg(oneArg(sub, 'lifetime D'));
        break;
      case 'sign_with_root':
        argsOf(sub, 0, 0, 'sign_with_root');
        break;
      default:
        throw configError(sub.name, `unknown subdirective "${sub.name.text}" in ${node.name.text} internal`);
    }
  }
}

/** `preferred_chains smallest` | `preferred_chains { root_common_name CN... | any_common_name CN... }` (Caddy's grammar: one of them). */
export function parsePreferredChains(node: Node): PreferredChains {
  const usage = 'preferred_chains smallest | preferred_chains { root_common_name CN... } | preferred_chains { any_common_name CN... }';
  const [arg] = argsOf(node, 0, 1, usage);
  if (arg !== undefined) {
    if (arg.text !== 'smallest') throw configError(arg, `preferred_chains: unknown argument "${arg.text}" (usage: ${usage})`);
    if (node.open !== undefined) throw configError(node.open, 'preferred_chains: smallest takes no block');
    return { kind: 'smallest' };
  }
  let out: PreferredChains | undefined;
  for (const sub of node.block ?? []) {
    noBlock(sub);
    const kind = sub.name.text;
    if (kind !== 'root_common_name' && kind !== 'any_common_name') {
      throw configError(sub.name, `unknown subdirective "${kind}" in preferred_chains`);
    }
    if (out !== undefined) throw configError(sub.name, `preferred_chains: ${kind} cannot be combined with ${out.kind}`);
    out = { kind, names: argsOf(sub, 1, Infinity, `${kind} CN...`).map((t) => t.text) };
  }
  if (out === undefined) throw configError(node.name, `preferred_chains: missing option (usage: ${usage})`);
  return out;
}

/**
 * What happens to an issued certificate: download (RFC 8555 §7.4.2), revocation (§7.6) and the
 * CA's suggested renewal window (RFC 9773 §4). Each function sends through the AcmeSession it is
 * given; AcmeClient (client.ts) is their public face.
 */
import { MyServerError } from '../errors.ts';
import { headerValue, linkTargets, parseRetryAfter } from './http.ts';
import { loadAccountKey, type AccountKeyInput } from './jws.ts';
import { jsonObject } from './responses.ts';
import type { AcmeSession, RequestOptions } from './session.ts';
import type { CertificateChain, RenewalInfo } from './types.ts';

export interface RevokeCertOptions extends RequestOptions {
  /** RFC 5280 §5.3.1 CRLReason code. */
  readonly reason?: number;
  /** Sign with the certificate's own key (jwk) instead of the account key (kid), RFC 8555 §7.6. */
  readonly certificateKey?: AccountKeyInput;
}

export async function downloadCertificate(s: AcmeSession, url: string, options: RequestOptions): Promise<CertificateChain> {
  const res = await s.post(url, undefined, {
    context: 'downloading certificate',
    signal: options.signal,
    accept: 'application/pem-certificate-chain',
  });
  const pem = res.body.toString('utf8');
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new MyServerError('MS_ERR_ACME_PROTOCOL', `downloading certificate: ${url} returned no PEM certificate`);
  }
  return { pem, alternates: linkTargets(res, 'alternate') };
}

export async function revokeCert(s: AcmeSession, certDer: Uint8Array, options: RevokeCertOptions): Promise<void> {
  const dir = await s.directory(options);
  const payload: Record<string, unknown> = { certificate: Buffer.from(certDer).toString('base64url') };
  if (options.reason !== undefined) payload.reason = options.reason;
  const certKey = options.certificateKey === undefined ? undefined : loadAccountKey(options.certificateKey);
  await s.post(dir.revokeCert, payload, {
    context: 'revoking certificate',
    signal: options.signal,
    ...(certKey === undefined ? {} : { key: certKey, useJwk: true }),
  });
}

export async function renewalInfo(s: AcmeSession, certId: string, options: RequestOptions): Promise<RenewalInfo | undefined> {
  const dir = await s.directory(options);
  if (dir.renewalInfo === undefined) return undefined;
  const url = `${dir.renewalInfo.replace(/\/+$/, '')}/${certId}`;
  const res = await s.get(url, { context: 'fetching renewal info', signal: options.signal });
  const body = jsonObject<{ suggestedWindow?: { start?: unknown; end?: unknown }; explanationURL?: unknown }>(res, 'fetching renewal info');
  const start = new Date(String(body.suggestedWindow?.start));
  const end = new Date(String(body.suggestedWindow?.end));
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end.getTime() <= start.getTime()) {
    throw new MyServerError('MS_ERR_ACME_PROTOCOL', `fetching renewal info: invalid suggestedWindow from ${url}`);
  }
  const retryAfterMs = parseRetryAfter(headerValue(res, 'retry-after'), s.now());
  return {
    suggestedWindow: { start, end },
    ...(typeof body.explanationURL === 'string' ? { explanationURL: body.explanationURL } : {}),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

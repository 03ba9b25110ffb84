/** The small handlers: respond, redir, header, encode. */
import { ServerResponse } from '../../util/node-http.ts';
import type { EncodeRoute, HeaderRoute, RedirRoute, RespondRoute } from '../../config/types.ts';
import { responseHooks } from '../../http/response-hooks.ts';
import { expandPlaceholders, type Res } from '../context.ts';
import { encodeResponse } from '../encode.ts';
import { applyResponseHeaderOps } from '../header-ops.ts';
import type { HandlerCompiler } from './types.ts';

export const respond: HandlerCompiler<RespondRoute> = (r) => ({
  step: (req, res, ctx) => {
    const body = expandPlaceholders(r.body, req, ctx);
    const errorStatus = r.statusFromError ? ctx.values?.get('http.error.status_code') : undefined;
    const templated = r.statusTemplate !== undefined ? Number(expandPlaceholders(r.statusTemplate, req, ctx)) : NaN;
    res.statusCode = errorStatus !== undefined ? Number(errorStatus) : Number.isInteger(templated) && templated >= 100 && templated <= 999 ? templated : r.status;
    if (body !== '' && !res.hasHeader('content-type')) res.setHeader('content-type', contentTypeOf(body));
    if (r.close) closeAfter(res);
    res.end(body);
    return true;
  },
});

/** Caddy's static response: a body that is a JSON object or array is application/json (checked with 2.6.2). */
function contentTypeOf(body: string): string {
  const first = body.trimStart()[0];
  if (first === '{' || first === '[') {
    try {
      JSON.parse(body);
      return 'application/json';
    } catch {
      // not JSON after all
    }
  }
  return 'text/plain; charset=utf-8';
}

/**
 * respond's `close`: Caddy sets Connection: close (HTTP/1, which Node honours by closing after
 * the response) and Go's HTTP/2 server then sends GOAWAY; we close the session gracefully.
 */
function closeAfter(res: Res): void {
  if (res instanceof ServerResponse) res.setHeader('connection', 'close');
  else res.once('finish', () => res.stream.session?.close());
}

export const redir: HandlerCompiler<RedirRoute> = (r) => {
  if (r.html) {
    const page = htmlRedirect(r.to);
    return {
      step: (req, res, ctx) => {
        res.statusCode = 200;
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.end(expandPlaceholders(page, req, ctx));
        return true;
      },
    };
  }
  return {
    step: (req, res, ctx) => {
      res.statusCode = r.status;
      res.setHeader('location', expandPlaceholders(r.to, req, ctx));
      res.end();
      return true;
    },
  };
};

/**
 * Caddy's `redir … html` page (httpcaddyfile/builtins.go parseRedir), byte for byte: the script
 * first, as it imitates a redirect in the browser's history best; the meta refresh for clients
 * without JavaScript. The target is HTML-escaped when the config loads and its placeholders
 * expand per request, as Caddy does.
 */
function htmlRedirect(to: string): string {
  const safe = to.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
  return (
    '<!DOCTYPE html>\n<html>\n\t<head>\n\t\t<title>Redirecting...</title>\n' +
    `\t\t<script>window.location.replace("${safe}");</script>\n` +
    `\t\t<meta http-equiv="refresh" content="0; URL='${safe}'">\n` +
    `\t</head>\n\t<body>Redirecting to <a href="${safe}">${safe}</a>...</body>\n</html>\n`
  );
}

/** Go's html.EscapeString. */
const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };

export const header: HandlerCompiler<HeaderRoute> = (r) => {
  // Caddy turns a directive's `?NAME` lines into one Require condition on its response ops: they
  // all apply only when every one of those fields is absent (headers/caddyfile.go), so with two
  // `?` lines an existing field stops both defaults (and the directive's other ops).
  const required = r.ops.filter((o) => o.op === 'default').map((o) => o.name);
  return {
    step: (req, res, ctx) => {
      // Applied when the head goes out, so they also win over what an upstream sent.
      responseHooks(res).onHead(() => {
        if (required.some((name) => res.hasHeader(name))) return;
        applyResponseHeaderOps(res, r.ops, req, ctx, r.deferred);
      });
      return false;
    },
  };
};

export const encode: HandlerCompiler<EncodeRoute> = (r) => ({
  step: (req, res) => {
    encodeResponse(req, res, r.encodings);
    return false;
  },
});

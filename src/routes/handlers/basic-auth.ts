/**
 * basic_auth: 401 with a challenge unless the request carries the password of a listed user.
 * An unknown user is checked against the first user's hash, so the answer takes as long as for a
 * known one (Caddy hashes a fake password for the same reason).
 */
import { verifyPassword } from '../../auth/passwords.ts';
import type { BasicAuthRoute } from '../../config/types.ts';
import { setValue } from '../context.ts';
import type { HandlerCompiler } from './types.ts';

export const basicAuth: HandlerCompiler<BasicAuthRoute> = (r) => {
  const users = new Map(r.users.map((u) => [u.name, u]));
  const decoy = r.users[0] as BasicAuthRoute['users'][number];
  const challenge = `Basic realm="${r.realm.replace(/["\\]/g, '\\$&')}"`;
  return {
    step: async (req, res, ctx) => {
      const creds = credentials(req.headers.authorization);
      if (creds !== undefined) {
        const user = users.get(creds.user);
        const ok = await verifyPassword(creds.password, (user ?? decoy).algorithm, (user ?? decoy).hash);
        if (ok && user !== undefined) {
          setValue(ctx, 'http.auth.user.id', user.name);
          return false;
        }
      }
      res.statusCode = 401;
      res.setHeader('www-authenticate', challenge);
      res.end();
      return true;
    },
  };
};

function credentials(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

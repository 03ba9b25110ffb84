/**
 * DNS provider config → DnsProvider: the one place that knows every provider, resolves `{env.VAR}`
 * secrets (here, never in the config) and says which account a provider writes with (its identity,
 * without secrets, for the solver's remembered records).
 */
import { createHash } from 'node:crypto';
import type { DnsProviderConfig } from '../config/types.ts';
import { MyServerError } from '../errors.ts';
import { AcmeDnsProvider } from './acmedns.ts';
import { CloudflareProvider } from './cloudflare.ts';
import { ExecProvider } from './exec.ts';
import type { DnsProvider } from './provider.ts';
import { Rfc2136Provider } from './rfc2136.ts';
import { tsigSecret } from './tsig.ts';
import { parseServer } from './wire.ts';

export interface MadeProvider {
  readonly provider: DnsProvider;
  readonly identity: string;
}

/** Throws a MyServerError naming the provider and the field when a value cannot be used. */
export function createDnsProvider(c: DnsProviderConfig, env: NodeJS.ProcessEnv = process.env): MadeProvider {
  const at = `${c.pos.file}:${c.pos.line}:${c.pos.col}: DNS provider ${c.provider}`;
  const value = (field: string, text: string): string => {
    const m = /^\{env\.([^}]+)\}$/.exec(text);
    if (m === null) return text;
    const v = env[m[1] as string];
    if (v === undefined || v === '') throw new MyServerError('MS_ERR_CONFIG', `${at}: ${field}: environment variable ${m[1]} is not set`);
    return v;
  };
  switch (c.provider) {
    case 'rfc2136': {
      const server = parseServer(value('server', c.server));
      if (server === undefined) throw new MyServerError('MS_ERR_CONFIG', `${at}: server is not HOST or HOST:PORT`);
      const secret = tsigSecret(value('key', c.key));
      if (secret === undefined) throw new MyServerError('MS_ERR_CONFIG', `${at}: key is not base64`);
      const keyName = value('key_name', c.keyName);
      return {
        provider: new Rfc2136Provider({ server, key: { name: keyName, algorithm: c.keyAlg, secret } }),
        identity: `rfc2136 ${server.host}:${server.port} ${keyName}`,
      };
    }
    case 'exec':
      return { provider: new ExecProvider({ program: c.program, args: c.args }), identity: `exec ${[c.program, ...c.args].join(' ')}` };
    case 'acmedns': {
      const o = { serverUrl: value('server_url', c.serverUrl), username: value('username', c.username), password: value('password', c.password), subdomain: value('subdomain', c.subdomain) };
      return { provider: new AcmeDnsProvider(o), identity: `acmedns ${o.serverUrl} ${o.subdomain}` };
    }
    case 'cloudflare': {
      const apiToken = value('api_token', c.apiToken);
      const zoneToken = c.zoneToken === undefined ? undefined : value('zone_token', c.zoneToken);
      // The token's hash tells accounts apart without keeping the token itself in storage.
      const id = createHash('sha256').update(apiToken).digest('hex').slice(0, 16);
      return { provider: new CloudflareProvider({ apiToken, ...(zoneToken !== undefined ? { zoneToken } : {}) }), identity: `cloudflare ${id}` };
    }
  }
}

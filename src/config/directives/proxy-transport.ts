/** `transport http { … }` of reverse_proxy (Caddy's HTTPTransport.UnmarshalCaddyfile, the options we run). */
import { configError } from '../errors.ts';
import type { Node } from '../parser.ts';
import type { TransportConfig, TransportVersion } from '../types.ts';
import { durationArg, intArg } from '../values.ts';
import { unknownSub } from './global-options.ts';
import { argsOf, noBlock, Once, oneArg } from './helpers.ts';

type Transport = { -readonly [K in keyof TransportConfig]: TransportConfig[K] };

const VERSIONS: readonly TransportVersion[] = ['1.1', '2', 'h2c'];

export function parseTransport(lines: readonly Node[], transport: Transport): void {
  const once = new Once();
  for (const line of lines) {
    once.check(line);
    noBlock(line);
    switch (line.name.text) {
      case 'dial_timeout':
        transport.dialTimeoutMs = durationArg(oneArg(line, 'dial_timeout D'));
        break;
      case 'response_header_timeout':
        transport.responseHeaderTimeoutMs = durationArg(oneArg(line, 'response_header_timeout D'));
        break;
      case 'read_timeout':
        transport.readTimeoutMs = durationArg(oneArg(line, 'read_timeout D'));
        break;
      case 'tls':
        argsOf(line, 0, 0, 'tls');
        transport.tls = true;
        break;
      case 'tls_insecure_skip_verify':
        argsOf(line, 0, 0, 'tls_insecure_skip_verify');
        transport.tls = true;
        transport.tlsInsecureSkipVerify = true;
        break;
      case 'tls_server_name':
        transport.tls = true;
        transport.tlsServerName = oneArg(line, 'tls_server_name NAME').text;
        break;
      case 'versions': {
        const versions = new Set<TransportVersion>();
        for (const tok of argsOf(line, 1, Infinity, 'versions 1.1|2|h2c...')) {
          if (!(VERSIONS as readonly string[]).includes(tok.text)) {
            const why = tok.text === '3' ? 'HTTP/3 to upstreams is not supported' : `use ${VERSIONS.join(', ')}`;
            throw configError(tok, `transport http: unsupported version "${tok.text}" (${why})`);
          }
          versions.add(tok.text as TransportVersion);
        }
        transport.versions = [...versions];
        break;
      }
      case 'compression': {
        const tok = oneArg(line, 'compression off');
        if (tok.text !== 'off') throw configError(tok, `transport http: compression takes only "off" (my-server never compresses on the client's behalf)`);
        transport.compression = false;
        break;
      }
      case 'max_conns_per_host':
        transport.maxConnsPerHost = intArg(oneArg(line, 'max_conns_per_host N'), 1, 1_000_000, 'max_conns_per_host');
        break;
      case 'keepalive_idle_conns':
        transport.keepAliveIdleConns = intArg(oneArg(line, 'keepalive_idle_conns N'), 0, 1_000_000, 'keepalive_idle_conns');
        break;
      case 'keepalive': {
        const tok = oneArg(line, 'keepalive D|off');
        transport.keepAliveMs = tok.text === 'off' ? 0 : durationArg(tok);
        break;
      }
      default:
        throw unknownSub(line, 'transport http');
    }
  }
}

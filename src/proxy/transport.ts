import http from 'node:http';
import https from 'node:https';
import type { OutgoingHttpHeaders } from 'node:http';
import type { TransportConfig, UpstreamConfig } from './types.ts';
import { upstreamAddress } from './types.ts';

/**
 * Connections to upstreams: one keep-alive Agent per upstream (so one slow upstream's pool never
 * starves another's), plain or TLS per the upstream's scheme and `transport { tls }`.
 */
export class UpstreamTransport {
  readonly #config: TransportConfig;
  readonly #agents = new Map<string, http.Agent>();

  constructor(config: TransportConfig) {
    this.#config = config;
  }

  usesTls(upstream: UpstreamConfig): boolean {
    return upstream.scheme === 'https' || this.#config.tls;
  }

  /** Start a request; nothing is written until the caller writes or ends it. */
  request(upstream: UpstreamConfig, method: string, path: string, headers: OutgoingHttpHeaders): http.ClientRequest {
    const options: https.RequestOptions = {
      method,
      path,
      headers,
      agent: this.agentFor(upstream),
    };
    if (upstream.scheme === 'unix') options.socketPath = upstream.path ?? '';
    else {
      options.host = upstream.host;
      options.port = upstream.port;
    }
    return this.usesTls(upstream) ? https.request(options) : http.request(options);
  }

  agentFor(upstream: UpstreamConfig): http.Agent {
    const key = upstreamAddress(upstream);
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      agent = this.#createAgent(upstream);
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /** Close pooled connections; requests in flight keep theirs until they end. */
  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }

  #createAgent(upstream: UpstreamConfig): http.Agent {
    const keepAlive = this.#config.keepAliveMs > 0;
    const common: http.AgentOptions = {
      keepAlive,
      // The agent sets this idle timeout on pooled sockets and destroys them when it fires.
      ...(keepAlive ? { timeout: this.#config.keepAliveMs } : {}),
      // Enough for bursts without letting one client flood an upstream with thousands of sockets;
      // excess requests queue in the agent (the dial timeout only starts once a socket is assigned).
      maxSockets: 1024,
      maxFreeSockets: 256,
      scheduling: 'lifo',
    };
    if (!this.usesTls(upstream)) return new http.Agent(common);
    const tlsOptions: https.AgentOptions = {
      ...common,
      rejectUnauthorized: !this.#config.tlsInsecureSkipVerify,
    };
    const serverName = this.#config.tlsServerName ?? (upstream.scheme === 'unix' ? undefined : upstream.host);
    // Node sends no SNI for IP literals by itself; an explicit tls_server_name is sent as given.
    if (serverName !== undefined && (this.#config.tlsServerName !== undefined || !isIpLiteral(serverName))) {
      tlsOptions.servername = serverName;
    }
    return new https.Agent(tlsOptions);
  }
}

function isIpLiteral(host: string): boolean {
  return host.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(host);
}

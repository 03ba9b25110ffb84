import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * Domain events of the proxy on node:diagnostics_channel, for metrics and logs to subscribe to.
 * Channels are process-wide by name (that is the point of them); publishing costs nothing while
 * nobody subscribes.
 */

/** An active health check found an upstream up again. Message: UpstreamHealthEvent. */
export const upstreamHealthyChannel = diagnosticsChannel.channel('my-server:upstream:healthy');
/** An active health check found an upstream down. Message: UpstreamHealthEvent. */
export const upstreamUnhealthyChannel = diagnosticsChannel.channel('my-server:upstream:unhealthy');
/** One attempt to reach an upstream failed. Message: UpstreamErrorEvent. */
export const upstreamErrorChannel = diagnosticsChannel.channel('my-server:proxy:upstream-error');

export interface UpstreamHealthEvent {
  /** "host:port" or "unix//path". */
  readonly upstream: string;
  /** Why the verdict is what it is: "status 200", "status 503", or the error's message. */
  readonly reason: string;
}

export interface UpstreamErrorEvent {
  readonly upstream: string;
  readonly error: Error;
  /** The status this failure maps to: 502 unreachable or broken, 504 timed out. */
  readonly status: number;
  /** True when another attempt follows, so the client may still get a good response. */
  readonly retrying: boolean;
}

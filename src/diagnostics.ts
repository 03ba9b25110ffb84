import diagnosticsChannel, { type Channel } from 'node:diagnostics_channel';
import type { ACME_CHANNELS, AcmeEvent, AcmeEventType } from './acme/events.ts';

/**
 * Every domain event of my-server: its channel name on node:diagnostics_channel, its message type,
 * and the one place that publishes (the pattern of undici's lib/core/diagnostics.js). Code that
 * does the work publishes here; metrics and logs subscribe here; neither imports the other.
 *
 * Channels are process-wide by name: two servers in one process publish on the same channels, and
 * every subscriber sees both. Any code in the process can publish on a channel by its name, so a
 * subscriber receives `unknown` and checks the shape before trusting it.
 *
 * acme/ imports nothing of ours (it could be published on its own), so it publishes its events
 * itself, on the channels its ACME_CHANNELS names (acme/events.ts); they are listed here too, and
 * the compiler holds the two lists equal. Only types are imported from acme/: this module has no
 * runtime import of ours, so any layer may import it, as it imports errors.ts.
 *
 * Labels derived from these messages must stay bounded: publishers pass configured values (a
 * site's configured address, never the request's Host header or path).
 */

/** One request answered by a site. */
export interface HttpRequestEvent {
  /** The site's configured label (its address as written in the Proxyfile). */
  readonly site: string;
  /** The request method as received; metrics fold unknown methods into OTHER. */
  readonly method: string;
  /** The status sent to the client. */
  readonly status: number;
  /** From the request's arrival to the end of the response. */
  readonly durationMs: number;
}

/** One TLS handshake finished or failed. */
export interface TlsHandshakeEvent {
  readonly result: 'ok' | 'error';
  /** The SNI sent by the client, for logs only: it is never a metric label. */
  readonly servername?: string;
  /** tlsSocket.getProtocol(), e.g. "TLSv1.3", when known. */
  readonly protocol?: string;
}

/** A certificate was installed for serving (from storage or freshly obtained). */
export interface CertLoadedEvent {
  /** The managed name (or on-demand name) the certificate serves. */
  readonly name: string;
  readonly notAfter: Date;
}

/** An issuer (ACME or the local CA) produced a new certificate. */
export interface CertObtainedEvent {
  readonly names: readonly string[];
  /** The issuer's id (Issuer.id): the ACME directory URL, or "local". Bounded by the config. */
  readonly issuer: string;
}

/** An active health check changed its verdict on an upstream. */
export interface UpstreamHealthEvent {
  /** "host:port" or "unix//path". */
  readonly upstream: string;
  /** Why the verdict is what it is: "status 200", "status 503", or the error's message. */
  readonly reason: string;
}

/** One attempt to reach an upstream failed. */
export interface UpstreamErrorEvent {
  readonly upstream: string;
  readonly error: Error;
  /** The status this failure maps to: 502 unreachable or broken, 504 timed out. */
  readonly status: number;
  /** True when another attempt follows, so the client may still get a good response. */
  readonly retrying: boolean;
}

/** A storage lock this process held was found taken over (expired and acquired by another). */
export interface LockLostEvent {
  /** The lock's name as given to Storage.lock(). */
  readonly name: string;
  /** File storage: the lock file. */
  readonly path?: string;
  /** Redis storage: the storage's description (URL without credentials, prefix). */
  readonly storage?: string;
}

/** The events acme/ publishes itself, under the names of ACME_CHANNELS. */
type AcmeEvents = {
  readonly [T in AcmeEventType as (typeof ACME_CHANNELS)[T]]: Extract<AcmeEvent, { readonly type: T }>;
};

/** Every event: channel name → message. */
export interface Events extends AcmeEvents {
  readonly 'my-server:http:request': HttpRequestEvent;
  readonly 'my-server:tls:handshake': TlsHandshakeEvent;
  readonly 'my-server:cert:loaded': CertLoadedEvent;
  readonly 'my-server:cert:obtained': CertObtainedEvent;
  /** An active health check found an upstream up again. */
  readonly 'my-server:upstream:healthy': UpstreamHealthEvent;
  /** An active health check found an upstream down. */
  readonly 'my-server:upstream:unhealthy': UpstreamHealthEvent;
  readonly 'my-server:proxy:upstream-error': UpstreamErrorEvent;
  readonly 'my-server:storage:lock-lost': LockLostEvent;
}

export type EventName = keyof Events;

/**
 * The channel of each event, made once. `satisfies` makes the compiler reject a name missing here
 * or one that is not an event (acme's included), so this list and Events cannot drift apart.
 */
const CHANNELS = channels({
  'my-server:http:request': true,
  'my-server:tls:handshake': true,
  'my-server:cert:loaded': true,
  'my-server:cert:obtained': true,
  'my-server:upstream:healthy': true,
  'my-server:upstream:unhealthy': true,
  'my-server:proxy:upstream-error': true,
  'my-server:storage:lock-lost': true,
  'my-server:acme:order-created': true,
  'my-server:acme:challenge-presented': true,
  'my-server:acme:authorization-valid': true,
  'my-server:acme:certificate-obtained': true,
  'my-server:acme:error': true,
  'my-server:acme:clock-skew': true,
} satisfies Record<EventName, true>);

/** Every channel name, for subscribers and documentation. */
export const EVENT_NAMES: readonly EventName[] = Object.freeze(Object.keys(CHANNELS) as EventName[]);

/**
 * Publishes `message` on its event's channel. While nobody subscribes this costs a property read
 * and a boolean check, so publishers call it unconditionally.
 */
export function publish<N extends EventName>(name: N, message: Events[N]): void {
  const channel = CHANNELS[name];
  if (channel.hasSubscribers) channel.publish(message);
}

/** A subscriber: the message is unchecked (see the module comment). */
export type Subscriber = (message: unknown, name: string | symbol) => void;

/**
 * Subscribes to one event. A subscriber that throws has its error rethrown on process.nextTick,
 * which crashes the process: subscribers catch their own errors.
 */
export function subscribe(name: EventName, subscriber: Subscriber): void {
  diagnosticsChannel.subscribe(name, subscriber);
}

export function unsubscribe(name: EventName, subscriber: Subscriber): void {
  diagnosticsChannel.unsubscribe(name, subscriber);
}

/** Whether anyone listens to `name` (for tests and for messages costly to build). */
export function hasSubscribers(name: EventName): boolean {
  return CHANNELS[name].hasSubscribers;
}

/**
 * Holding the Channel objects here keeps them alive: diagnostics_channel keeps a channel without
 * subscribers only through a weak reference, and a channel made anew per publish would be waste.
 */
function channels(names: Record<EventName, true>): Readonly<Record<EventName, Channel>> {
  const out = {} as Record<EventName, Channel>;
  for (const name of Object.keys(names) as EventName[]) out[name] = diagnosticsChannel.channel(name);
  return Object.freeze(out);
}

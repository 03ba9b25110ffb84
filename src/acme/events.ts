import diagnosticsChannel, { type Channel } from 'node:diagnostics_channel';
import type { Identifier } from './types.ts';

/**
 * Domain events of an issuance, published on node:diagnostics_channel as
 * `my-server:acme:<type>` (e.g. `my-server:acme:order-created`) so that logs and metrics subscribe
 * instead of being imported here. The message is the event object itself. src/diagnostics.ts lists
 * these channels with every other event of my-server; subscribers go through it.
 */
export type AcmeEvent =
  | {
      readonly type: 'order-created';
      readonly orderUrl: string;
      readonly identifiers: readonly Identifier[];
      readonly attempt: number;
      /** The profile sent, when the CA offered the one asked for. */
      readonly profile?: string;
    }
  | {
      readonly type: 'challenge-presented';
      readonly orderUrl: string;
      readonly identifier: Identifier;
      readonly challengeType: string;
    }
  | {
      readonly type: 'authorization-valid';
      readonly orderUrl: string;
      readonly identifier: Identifier;
      /** Absent when the CA reused an authorization that was already valid. */
      readonly challengeType?: string;
      readonly reused: boolean;
    }
  | {
      readonly type: 'certificate-obtained';
      readonly orderUrl: string;
      readonly certificateUrl: string;
      readonly identifiers: readonly Identifier[];
    }
  | {
      readonly type: 'error';
      readonly identifiers: readonly Identifier[];
      readonly attempt: number;
      readonly error: Error;
      /** The challenge type the error is blamed on, when it is one. */
      readonly challengeType?: string;
      /** True when a new order with another challenge type follows. */
      readonly willRetry: boolean;
      /** 'cleanup' for a solver's cleanup failure, which does not fail the issuance. */
      readonly stage?: 'cleanup';
    }
  | {
      /**
       * A CA's `Date` header (RFC 9110 §6.6.1) and this host's clock differ by more than a minute.
       * Certificate validity and renewal windows are the CA's time; renewal decisions are made on ours.
       */
      readonly type: 'clock-skew';
      readonly url: string;
      /** Our clock minus the CA's: positive when ours is ahead. */
      readonly skewMs: number;
      readonly caDate: string;
    };

export type AcmeEventType = AcmeEvent['type'];

/**
 * The diagnostics_channel name of each event type. Literal types on purpose: src/diagnostics.ts
 * lists every event of my-server and derives these names' message types from this object.
 */
export const ACME_CHANNELS = {
  'order-created': 'my-server:acme:order-created',
  'challenge-presented': 'my-server:acme:challenge-presented',
  'authorization-valid': 'my-server:acme:authorization-valid',
  'certificate-obtained': 'my-server:acme:certificate-obtained',
  error: 'my-server:acme:error',
  'clock-skew': 'my-server:acme:clock-skew',
} as const satisfies Readonly<Record<AcmeEventType, string>>;

/** One channel object per type, held so that a publish does not look its name up. */
const CHANNELS = Object.fromEntries(
  Object.entries(ACME_CHANNELS).map(([type, name]) => [type, diagnosticsChannel.channel(name)]),
) as Readonly<Record<AcmeEventType, Channel>>;

/**
 * Publishes one event. acme/ imports nothing of ours, so this is the one publisher besides
 * src/diagnostics.ts's publish(), with the same hasSubscribers check.
 */
/** Whether anyone listens to events of `type` (for events costly to build). */
export function hasAcmeSubscribers(type: AcmeEventType): boolean {
  return CHANNELS[type].hasSubscribers;
}

export function publishAcmeEvent(event: AcmeEvent): void {
  const channel = CHANNELS[event.type];
  if (channel.hasSubscribers) channel.publish(event);
}

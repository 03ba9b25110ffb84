import diagnosticsChannel from 'node:diagnostics_channel';
import type { Identifier } from './types.ts';

/**
 * Domain events of an issuance, published on node:diagnostics_channel as
 * `my-server:acme:<type>` (e.g. `my-server:acme:order-created`) so that logs and metrics subscribe
 * instead of being imported here. The message is the event object itself.
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
    };

export type AcmeEventType = AcmeEvent['type'];

/** The diagnostics_channel name of each event type. */
export const ACME_CHANNELS: Readonly<Record<AcmeEventType, string>> = {
  'order-created': 'my-server:acme:order-created',
  'challenge-presented': 'my-server:acme:challenge-presented',
  'authorization-valid': 'my-server:acme:authorization-valid',
  'certificate-obtained': 'my-server:acme:certificate-obtained',
  error: 'my-server:acme:error',
};

export function publishAcmeEvent(event: AcmeEvent): void {
  // channel() returns the process-wide channel for a name; publishing without subscribers is free.
  const channel = diagnosticsChannel.channel(ACME_CHANNELS[event.type]);
  if (channel.hasSubscribers) channel.publish(event);
}

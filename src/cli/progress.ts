import diagnosticsChannel from 'node:diagnostics_channel';
import { ACME_CHANNELS, type AcmeEvent } from '../acme/events.ts';

/**
 * Progress lines for a person watching `certs obtain` (only when stderr is a terminal; scripts get
 * the log lines): "a.test  authorization valid (http-01)  2.1s". Returns the unsubscribe function.
 */
export function showAcmeProgress(out: NodeJS.WriteStream = process.stderr): () => void {
  if (!out.isTTY) return () => {};
  const started = Date.now();
  const line = (names: string, step: string): void => {
    out.write(`${names.padEnd(28)}  ${step.padEnd(44)}  ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  };
  const handlers = new Map<string, (message: unknown) => void>();
  for (const [type, channel] of Object.entries(ACME_CHANNELS)) {
    const handler = (message: unknown): void => {
      const e = message as AcmeEvent;
      switch (e.type) {
        case 'order-created':
          line(e.identifiers.map((i) => i.value).join(','), `order created (attempt ${e.attempt})`);
          break;
        case 'challenge-presented':
          line(e.identifier.value, `challenge presented (${e.challengeType})`);
          break;
        case 'authorization-valid':
          line(e.identifier.value, e.reused ? 'authorization reused' : `authorization valid (${e.challengeType ?? '?'})`);
          break;
        case 'certificate-obtained':
          line(e.identifiers.map((i) => i.value).join(','), 'certificate downloaded');
          break;
        case 'error':
          line(e.identifiers.map((i) => i.value).join(','), `${e.willRetry ? 'retrying after' : 'failed'}: ${e.error.message}`.slice(0, 120));
          break;
      }
    };
    diagnosticsChannel.subscribe(channel, handler);
    handlers.set(type, handler);
  }
  return () => {
    for (const [type, handler] of handlers) diagnosticsChannel.unsubscribe(ACME_CHANNELS[type as AcmeEvent['type']], handler);
  };
}

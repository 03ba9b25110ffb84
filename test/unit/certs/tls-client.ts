/** A real TLS server whose SNICallback asks a CertificateManager, and a client that verifies against the local root. */
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';

export interface Handshake {
  readonly authorized: boolean;
  readonly authorizationError?: string;
  readonly serialHex: string;
  readonly subjectAltName: string;
}

export interface SniServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function sniServer(contextFor: (servername: string) => Promise<tls.SecureContext | undefined>): Promise<SniServer> {
  const server = tls.createServer(
    {
      SNICallback: (servername, cb) => {
        contextFor(servername).then(
          (ctx) => (ctx ? cb(null, ctx) : cb(new Error(`no certificate for ${servername}`))),
          (err: unknown) => cb(err as Error),
        );
      },
    },
    (socket) => socket.end('ok'),
  );
  server.on('tlsClientError', () => {
    // Refused handshakes are part of the tests.
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Connects with SNI `servername`, trusting only `caPem`; rejects when the handshake fails. */
export function handshake(port: number, servername: string, caPem: string): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca: caPem, rejectUnauthorized: false });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      const result: Handshake = {
        authorized: socket.authorized,
        ...(socket.authorizationError ? { authorizationError: String(socket.authorizationError) } : {}),
        serialHex: peer.serialNumber.toLowerCase().replace(/^0+/, ''),
        subjectAltName: peer.subjectaltname ?? '',
      };
      // The server's identity check as a browser would make it.
      const identityError = tls.checkServerIdentity(servername, peer);
      socket.destroy();
      if (identityError) reject(identityError);
      else resolve(result);
    });
    socket.once('error', reject);
  });
}

export const bareSerial = (hex: string): string => hex.toLowerCase().replace(/^0+/, '');

/**
 * gRPC through `my-server run`: a real @grpc/grpc-js client speaks h2 over TLS (local CA) to the
 * proxy, which speaks h2c to a real grpc-js server (`reverse_proxy h2c://…`, and the same with
 * `transport http { versions h2c 2 }`). Unary and server-streaming calls, status codes and
 * trailing metadata must come back as the server sent them: they travel in HTTP/2 trailers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { eventually } from '../helpers/eventually.ts';
import { freePorts } from '../helpers/ports.ts';
import { globalOptions, startServer, type RunningServer } from '../helpers/run-server.ts';

const identity = (b: Buffer): Buffer => b;
const codec = { requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
const SERVICE = {
  echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, ...codec },
  count: { path: '/test.Echo/Count', requestStream: false, responseStream: true, ...codec },
} satisfies grpc.ServiceDefinition;

type EchoClient = grpc.Client & {
  echo(req: Buffer, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
  count(req: Buffer, md: grpc.Metadata): grpc.ClientReadableStream<Buffer>;
};

let upstream: grpc.Server;
let upstreamPort = 0;
let server: RunningServer;
let ports: { https: number; viaScheme: number; viaVersions: number };
let rootPem: Buffer;
/** What the upstream saw of each call: a header the client sent. */
const seen: { header: string }[] = [];

before(async () => {
  upstream = new grpc.Server();
  upstream.addService(SERVICE, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen.push({ header: String(call.metadata.get('x-client')[0] ?? '') });
      const text = call.request.toString();
      if (text === 'missing') {
        cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' });
        return;
      }
      const trailer = new grpc.Metadata();
      trailer.set('x-trail', 'unary-trailer');
      cb(null, Buffer.from(`echo:${text}`), trailer);
    },
    count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = Number(call.request.toString());
      for (let i = 1; i <= Math.abs(n); i++) call.write(Buffer.from(`item ${i}`));
      if (n < 0) {
        // Messages first, then a failure status: the status can only travel in the trailers.
        call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'stopped after items' });
        return;
      }
      const trailer = new grpc.Metadata();
      trailer.set('x-trail', `counted ${n}`);
      call.end(trailer);
    },
  });
  upstreamPort = await new Promise<number>((resolve, reject) =>
    upstream.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  const [http, https, viaScheme, viaVersions] = (await freePorts(4)) as [number, number, number, number];
  ports = { https, viaScheme, viaVersions };
  server = await startServer(
    (env) =>
      globalOptions(env, { http, https, loopback: true }, '\tlocal_certs\n') +
      `localhost:${viaScheme} {
	reverse_proxy h2c://127.0.0.1:${upstreamPort}
}
localhost:${viaVersions} {
	reverse_proxy 127.0.0.1:${upstreamPort} {
		transport http {
			versions h2c 2
		}
	}
}
`,
  );
  const rootFile = join(server.storage, 'pki', 'local', 'root.crt');
  await eventually('the local CA root in storage', 20_000, () => access(rootFile).then(() => true));
  rootPem = await readFile(rootFile);
});

after(async () => {
  await server?.close();
  await new Promise<void>((resolve) => (upstream ? upstream.tryShutdown(() => resolve()) : resolve()));
});

function clientFor(port: number): EchoClient {
  const Client = grpc.makeGenericClientConstructor(SERVICE, 'Echo');
  return new Client(`localhost:${port}`, grpc.credentials.createSsl(rootPem)) as unknown as EchoClient;
}

function metadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-client', 'from-the-client');
  return md;
}

interface UnaryOutcome {
  readonly err: grpc.ServiceError | null;
  readonly res: Buffer | undefined;
  readonly status: grpc.StatusObject;
}

function unary(client: EchoClient, text: string): Promise<UnaryOutcome> {
  return new Promise((resolve) => {
    let result: { err: grpc.ServiceError | null; res: Buffer | undefined } | undefined;
    let status: grpc.StatusObject | undefined;
    const done = (): void => {
      if (result !== undefined && status !== undefined) resolve({ ...result, status });
    };
    const call = client.echo(Buffer.from(text), metadata(), (err, res) => {
      result = { err, res };
      done();
    });
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      done();
    });
  });
}

function serverStream(client: EchoClient, n: number): Promise<{ items: string[]; status: grpc.StatusObject; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const items: string[] = [];
    let error: grpc.ServiceError | undefined;
    const call = client.count(Buffer.from(String(n)), metadata());
    call.on('data', (b: Buffer) => items.push(b.toString()));
    call.on('error', (err: grpc.ServiceError) => (error = err));
    call.on('status', (status: grpc.StatusObject) => resolve({ items, status, ...(error ? { error } : {}) }));
  });
}

for (const variant of ['viaScheme', 'viaVersions'] as const) {
  const how = variant === 'viaScheme' ? 'reverse_proxy h2c://' : 'transport http { versions h2c 2 }';

  test(`gRPC unary through ${how}: response, OK status and trailing metadata arrive`, async () => {
    const client = clientFor(ports[variant]);
    try {
      const out = await unary(client, 'hello');
      assert.equal(out.err, null);
      assert.equal(out.res?.toString(), 'echo:hello');
      assert.equal(out.status.code, grpc.status.OK);
      assert.deepEqual(out.status.metadata.get('x-trail'), ['unary-trailer'], 'the trailer the server set');
      assert.equal(seen.at(-1)?.header, 'from-the-client', 'request metadata reached the upstream');
    } finally {
      client.close();
    }
  });

  test(`gRPC unary error through ${how}: the upstream's status code and message reach the client`, async () => {
    const client = clientFor(ports[variant]);
    try {
      const out = await unary(client, 'missing');
      assert.equal(out.err?.code, grpc.status.NOT_FOUND, `${out.err?.details} ${JSON.stringify(out.status.metadata.getMap())}`);
      assert.equal(out.err?.details, 'no such thing');
      assert.equal(out.status.code, grpc.status.NOT_FOUND);
    } finally {
      client.close();
    }
  });

  test(`gRPC server stream through ${how}: every message, then the status and trailers`, async () => {
    const client = clientFor(ports[variant]);
    try {
      const ok = await serverStream(client, 5);
      assert.deepEqual(ok.items, ['item 1', 'item 2', 'item 3', 'item 4', 'item 5']);
      assert.equal(ok.status.code, grpc.status.OK);
      assert.deepEqual(ok.status.metadata.get('x-trail'), ['counted 5']);

      const failed = await serverStream(client, -2);
      assert.deepEqual(failed.items, ['item 1', 'item 2'], 'messages before the failure');
      assert.equal(failed.status.code, grpc.status.RESOURCE_EXHAUSTED, 'grpc-status from the trailers after the data');
      assert.equal(failed.status.details, 'stopped after items');
    } finally {
      client.close();
    }
  });
}

test('gRPC calls share the proxy: 20 concurrent unary calls all succeed', async () => {
  const client = clientFor(ports.viaScheme);
  try {
    const outs = await Promise.all(Array.from({ length: 20 }, (_, i) => unary(client, `n${i}`)));
    assert.deepEqual(
      outs.map((o) => o.res?.toString()),
      Array.from({ length: 20 }, (_, i) => `echo:n${i}`),
    );
  } finally {
    client.close();
  }
});

/**
 * The protected resource: a loopback HTTP service holding a counter and the highest fencing
 * token it has accepted. Clients read the counter, pause, and write it back plus one (a
 * read-modify-write that faults can meet in the middle). When fenced, the service refuses any
 * read or write carrying a token lower than the highest it has accepted (a read counts: a holder
 * that has read with token 7 must not see its write lost to a stale holder's write with token 6).
 * Unfenced, it accepts everything: the negative control. Every request and its outcome is logged
 * with the shared monotonic clock.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ResourceEntry {
  t: string;
  op: 'read' | 'write';
  c: number;
  token: string;
  value?: number;
  accepted: boolean;
  /** Highest token accepted before this request. */
  highest: string | undefined;
}

export interface Resource {
  readonly port: number;
  /** The counter's final value and how many writes were accepted. */
  readonly counter: number;
  readonly acceptedWrites: number;
  close(): Promise<void>;
}

async function body(request: IncomingMessage): Promise<{ c: number; token: string; value?: number }> {
  let text = '';
  for await (const chunk of request) text += chunk;
  return JSON.parse(text) as { c: number; token: string; value?: number };
}

export async function startResource(options: { fenced: boolean; log: (entry: ResourceEntry) => void }): Promise<Resource> {
  let counter = 0;
  let acceptedWrites = 0;
  let highest: bigint | undefined;
  const server = createServer(async (request, response) => {
    const op = request.url === '/write' ? 'write' : 'read';
    const { c, token, value } = await body(request);
    const presented = BigInt(token);
    const accepted = !options.fenced || highest === undefined || presented >= highest;
    options.log({ t: process.hrtime.bigint().toString(), op, c, token, value: op === 'read' ? counter : value, accepted, highest: highest?.toString() });
    if (accepted) {
      if (highest === undefined || presented > highest) highest = presented;
      if (op === 'write') {
        counter = value!;
        acceptedWrites++;
      }
    }
    response.writeHead(accepted ? 200 : 409, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ accepted, value: counter, highest: highest?.toString() }));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get counter() {
      return counter;
    },
    get acceptedWrites() {
      return acceptedWrites;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Every unary attempt keeps its own deadline although one timer watches them all (the process's
 * DeadlineTimer of src/backends/deadline-timer.ts): the timer is armed for the earliest deadline in
 * flight, so an attempt made after a longer one, with a shorter deadline, still ends at its own;
 * an attempt answered in time leaves no deadline behind. The member is a plain HTTP/2 server on
 * loopback that never answers (the unanswered case) or answers at once.
 */
import http2 from 'node:http2';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { EtcdClient } from '../../src/backends/etcd/transport/client.js';
import { TransportError, watchedAttemptDeadlines } from '../../src/backends/etcd/transport/grpc.js';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** A member that answers Range at once (an empty RangeResponse) when `answer` is set, else never. */
async function member(answer: boolean): Promise<EtcdClient> {
  const server = http2.createServer();
  server.on('session', (session) => session.on('error', () => {}));
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.on('data', () => {});
    if (!answer) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.alloc(5));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const client = new EtcdClient({ endpoints: [`127.0.0.1:${port}`], https: false });
  closers.push(() => {
    client.close();
    server.close();
  });
  return client;
}

/** When (ms after `start`) the call rejected, and with what. */
async function rejection(call: Promise<unknown>, start: number): Promise<{ at: number; error: unknown }> {
  try {
    await call;
  } catch (error) {
    return { at: performance.now() - start, error };
  }
  throw new Error('the call was answered');
}

describe('unary attempt deadlines, watched by one timer', () => {
  it('an attempt made after a longer one, with a shorter deadline, ends at its own deadline, not at the longer one', async () => {
    // Two clients: an attempt that times out drops its connection, with the calls on it.
    const [one, other] = [await member(false), await member(false)];
    const start = performance.now();
    // One attempt each (a budget shorter than the attempt): the call rejects at its attempt's deadline.
    const long = rejection(one.range({ key: Buffer.from('a') }, { attemptMs: 3000, budgetMs: 1 }), start);
    const short = rejection(other.range({ key: Buffer.from('b') }, { attemptMs: 300, budgetMs: 1 }), start);
    const first = await Promise.race([long.then(() => 'long'), short.then(() => 'short')]);
    expect(first).toBe('short');
    const { at, error } = await short;
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).timedOut).toBe(true);
    expect(at).toBeGreaterThanOrEqual(299);
    // Well before the long one's 3 s (generous for a loaded machine).
    expect(at).toBeLessThan(2500);
    const late = await long;
    expect((late.error as TransportError).timedOut).toBe(true);
    expect(late.at).toBeGreaterThanOrEqual(2999);
  });

  it('attempts answered in time leave no deadline watched', async () => {
    const client = await member(true);
    const before = watchedAttemptDeadlines();
    for (let i = 0; i < 20; i++) await client.range({ key: Buffer.from('k') });
    expect(watchedAttemptDeadlines()).toBe(before);
  });
});

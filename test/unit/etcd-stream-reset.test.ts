/**
 * A member that resets a watch stream (RST_STREAM, as etcd does to the streams of a member that
 * lost its leader) makes the client give up on that member: the watch's failure drops the member's
 * HTTP/2 session and the lease keep-alive leaves it too. Two ways of doing that from inside the
 * reset stream's own close event sent Node's HTTP/2 layer into a loop that never returned (the
 * process stopped running its timers for good: fault-suite clients on etcd that never returned
 * from a call after a member was killed, and ignored the stop):
 *
 * - destroying the session synchronously while the keep-alive stream was open on it;
 * - closing the keep-alive stream (RST_STREAM, CANCEL) synchronously when the session had a write
 *   scheduled but not yet flushed at the moment the member's reset was read: Node runs the close
 *   event's handlers while nghttp2 is still handling the frames it read, and without the write
 *   pending it defers the reset itself, with one it calls nghttp2 to send from there
 *   (`submitRstStream` -> `SendPendingData` -> `CopyDataIntoOutgoing`, for ever). In the fault
 *   suite the pending write was a keep-alive sent in the same turn of the event loop.
 *
 * etcd resets streams only on its own schedule, so the member here is a plain HTTP/2 server on
 * loopback that accepts the client's streams and resets one on demand; the client is the adapter's
 * own transport (watch stream, lease keeper) in a child process, so that a process stuck in such a
 * loop is seen from outside and killed instead of freezing the test runner.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

// The built modules (`npm test` builds first), so that the child starts in milliseconds.
const TRANSPORT = fileURLToPath(new URL('../../dist/backends/etcd/transport/client.js', import.meta.url));
const KEEPER = fileURLToPath(new URL('../../dist/backends/etcd/lease-keeper.js', import.meta.url));

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

/** A child process: the member, the client's watch and keep-alive streams on it, then `reset`. */
function clientScript(reset: string): string {
  return `
  import http2 from 'node:http2';
  const { EtcdClient } = await import(${JSON.stringify(TRANSPORT)});
  const { LeaseKeeper } = await import(${JSON.stringify(KEEPER)});
  const streams = [];
  const server = http2.createServer();
  server.on('stream', (stream) => {
    streams.push(stream);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.on('data', () => {});
    stream.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new EtcdClient({ endpoints: ['127.0.0.1:' + server.address().port], https: false });
  const quiet = { created() {}, events() {}, restarting() {}, refused() {} };
  client.watches.watch(Buffer.from('a'), Buffer.from('b'), quiet);
  const keeper = new LeaseKeeper(client, 1n, 30, performance.now(), () => {});
  while (streams.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
  ${reset}
  // A process that still runs its timers says so.
  setTimeout(() => {
    process.send('timers run');
    keeper.stop();
    client.close();
    server.close();
  }, 300);
`;
}

async function answerOf(script: string): Promise<string> {
  child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return Promise.race([
    once(child, 'message').then(([message]) => message as string),
    new Promise<string>((resolve) => setTimeout(() => resolve('no answer within 10 s: the process is stuck'), 10_000)),
  ]);
}

describe('etcd transport: a member resets a stream', () => {
  it('the client process keeps running its timers when the watch stream is reset next to the keep-alive stream', async () => {
    // The member resets the watch stream (the first one opened).
    const answer = await answerOf(clientScript('streams[0].close(http2.constants.NGHTTP2_CANCEL);'));
    expect(answer).toBe('timers run');
  }, 20_000);

  it('the client process keeps running its timers when the reset arrives while a write of the client is still to be flushed', async () => {
    // The member's reset goes out in this turn; the client then writes on the same session (a
    // second watch created on the watch stream) after its own flush of this turn, so the write is
    // still scheduled when the client reads the reset in the next one.
    const answer = await answerOf(
      clientScript(`
  streams[0].close(http2.constants.NGHTTP2_CANCEL);
  setImmediate(() => client.watches.watch(Buffer.from('c'), Buffer.from('d'), quiet));`),
    );
    expect(answer).toBe('timers run');
  }, 20_000);
});

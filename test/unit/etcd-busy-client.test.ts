/**
 * A client process that was busy past a deadline still counts the answers that came in time.
 *
 * Node runs due timers before it reads the sockets. When the process is busy inside an I/O
 * callback (a burst of watch events over many coordinators) past a deadline, the next turn fires
 * the deadline before the answers that came meanwhile are read: with 100 coordinators and 2,000
 * waiters in one process, calls counted as unanswered dropped their connections (keep-alive and
 * watch streams with them), and a lease etcd had renewed could be declared lost. Here the member
 * is a plain HTTP/2 server in a child process: on each request it tells this process (over IPC)
 * to be busy, and answers 100 ms later. This process is busy in that message's callback until
 * past the deadline, so the answer arrives while it is busy, and must win.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseKeeper } from '../../src/backends/etcd/lease-keeper.js';
import { EtcdClient } from '../../src/backends/etcd/transport/client.js';
import { until } from '../support/until.js';

const ANSWER_DELAY_MS = 100;

/**
 * A member that answers every Range (empty) and every keep-alive (TTL 2 s) ANSWER_DELAY_MS late,
 * and says 'request' to its parent as each request arrives.
 */
const MEMBER = `
import http2 from 'node:http2';
const frame = (bytes) => { const b = Buffer.alloc(5 + bytes.length); b.writeUInt32BE(bytes.length, 1); Buffer.from(bytes).copy(b, 5); return b; };
const server = http2.createServer();
server.on('session', (s) => s.on('error', () => {}));
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  const path = String(headers[':path']);
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  if (path.endsWith('/Range')) {
    stream.on('data', () => {});
    process.send('request');
    setTimeout(() => stream.end(frame([])), ${ANSWER_DELAY_MS});
  } else if (path.endsWith('/LeaseKeepAlive')) {
    // LeaseKeepAliveResponse { ID: 1, TTL: 2 }, for each request.
    stream.on('data', () => {
      process.send('request');
      setTimeout(() => stream.write(frame([0x10, 1, 0x18, 2])), ${ANSWER_DELAY_MS});
    });
  }
});
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
`;

const children = new Set<ChildProcess>();
const clients = new Set<EtcdClient>();
afterEach(() => {
  for (const client of clients) client.close();
  clients.clear();
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

interface Member {
  readonly client: EtcdClient;
  /** The next request the member receives makes this process busy for `ms`, in an I/O callback. */
  busyOnNextRequest(ms: number): Promise<void>;
}

async function member(): Promise<Member> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', MEMBER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  const [port] = (await once(child, 'message')) as [number];
  const client = new EtcdClient({ endpoints: [`127.0.0.1:${port}`], https: false });
  clients.add(client);
  let busy: { ms: number; done: () => void } | undefined;
  child.on('message', (message) => {
    if (message !== 'request' || !busy) return;
    const { ms, done } = busy;
    busy = undefined;
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // busy: the member's answer arrives meanwhile
    }
    done();
  });
  return { client, busyOnNextRequest: (ms) => new Promise<void>((done) => (busy = { ms, done })) };
}

describe('etcd transport in a process busy past a deadline', () => {
  it('a call answered before its deadline resolves with the answer, not a timeout, and its member is not called failing', async () => {
    const { client, busyOnNextRequest } = await member();
    await client.range({ key: Buffer.from('warm') }); // the connection is up
    const failures: string[] = [];
    client.pool.onSuspect((m) => failures.push(m.endpoint));
    // One attempt, due at 300 ms: the answer comes at ~100 ms; this process is busy until ~900 ms.
    const busy = busyOnNextRequest(900);
    const answer = client.range({ key: Buffer.from('k') }, { attemptMs: 300, budgetMs: 300 }).then(
      () => 'answered',
      (error: Error) => `failed: ${error.message}`,
    );
    await busy;
    expect(await answer).toBe('answered');
    expect(failures).toEqual([]);
  });

  it('a keep-alive answered before the lease deadline keeps the lease, however late this process reads it', async () => {
    const { client, busyOnNextRequest } = await member();
    const lost: string[] = [];
    // Granted 1.8 s ago with a TTL of 2 s: the lease's deadline is 200 ms from now, unless the
    // keep-alive sent at once is answered; it is, at ~100 ms, which moves the deadline to 2 s
    // after its sending, well after this process reads the answer (at ~1.2 s) and sends the next.
    const busy = busyOnNextRequest(1200);
    const grantedAt = performance.now() - 1800;
    const keeper = new LeaseKeeper(client, 1n, 2, grantedAt, (why) => lost.push(why));
    try {
      await busy;
      // Until the keeper has decided: the answer counted, or the lease lost.
      await until(() => keeper.lastAnswered !== grantedAt || lost.length > 0, 'the keeper counted the answer or lost the lease', 10_000);
      expect(lost).toEqual([]);
      expect(keeper.lastAnswered).toBeGreaterThan(grantedAt);
    } finally {
      keeper.stop();
    }
  });
});

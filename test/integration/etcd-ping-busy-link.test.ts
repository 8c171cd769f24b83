/**
 * A connection busy delivering a large answer is alive even when the member's PING ack comes
 * late: the ack is queued in the TCP stream behind the data frames sent before it. Pings run
 * every 6 s on a session with open streams and time out after 3 s; here a 6 MB range read crosses
 * a proxy that forwards answers at 500 KB/s (about 12 s), with a lease keep-alive stream open so
 * pings run. The read must complete on the connection it started on, with no reconnection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdClient } from '../../src/backends/etcd/transport/client.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const wanted = localEtcdAvailable() || process.env.CI === 'true';

let servers: EtcdServers | undefined;
let proxy: TcpProxy | undefined;
const clients: EtcdClient[] = [];

beforeAll(async () => {
  servers = await startEtcd({ needControl: true });
}, 120_000);
afterAll(async () => {
  for (const client of clients) client.close();
  await proxy?.close();
  await servers?.stop();
});

const VALUE_BYTES = 256 * 1024;
const KEYS = 24;
const ANSWER_BYTES_PER_SECOND = 500 * 1024;

describe.skipIf(!wanted)('etcd pings on a busy connection', () => {
  it('a connection still delivering a large answer is not failed when its ping ack is late', async () => {
    const prefix = `ping-busy/${Date.now()}/`;
    const direct = new EtcdClient({ endpoints: [servers!.endpoints[0]!], https: false });
    clients.push(direct);
    for (let i = 0; i < KEYS; i++) {
      await direct.put({ key: Buffer.from(`${prefix}${String(i).padStart(3, '0')}`), value: Buffer.alloc(VALUE_BYTES, i) });
    }

    proxy = await startTcpProxy(Number(servers!.endpoints[0]!.split(':')[1]));
    const client = new EtcdClient({ endpoints: [`127.0.0.1:${proxy.port}`], https: false });
    clients.push(client);
    const member = client.pool.members[0]!;
    // An open stream, so the pool pings the member's session.
    let keepAliveClosed: unknown = 'open';
    await client.keepAliveStream({ onMessage: () => {}, onClose: (error) => (keepAliveClosed = error) });
    const session = member.session;
    expect(session).toBeDefined();
    let suspected = 0;
    client.pool.onSuspect(() => suspected++);

    proxy.throttleAnswers(ANSWER_BYTES_PER_SECOND);
    const started = performance.now();
    const answer = await client.range(
      { key: Buffer.from(prefix), rangeEnd: Buffer.from(prefix.slice(0, -1) + '0') },
      { attemptMs: 60_000, budgetMs: 60_000 },
    );
    const tookMs = performance.now() - started;
    proxy.throttleAnswers(undefined);

    expect(answer.kvs.length).toBe(KEYS);
    expect(answer.kvs.every((kv, i) => kv.value.length === VALUE_BYTES && kv.value[0] === i)).toBe(true);
    // Long enough that a ping was sent and its timeout passed while the answer was still arriving.
    expect(tookMs).toBeGreaterThan(6000 + 3000);
    // The connection was never failed: the same session, one connection, the stream still open.
    expect(suspected).toBe(0);
    expect(member.session).toBe(session);
    expect(proxy.accepted).toBe(1);
    expect(keepAliveClosed).toBe('open');
  }, 60_000);
});

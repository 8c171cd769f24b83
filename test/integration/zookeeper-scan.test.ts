/**
 * What the dashboard's scan costs on a real ZooKeeper, counted by the server: the data watches the
 * viewer's session holds (`wchc`) and the packets the server received from it (`cons`). With a
 * hundred waiters on one name, the scan watches the name nodes and the queue's head, not each
 * waiter; a scan of an unchanged tree sends nothing, and one after a handoff re-reads only what
 * changed. And a listing whose watch fired right behind its answer, in the same socket read, is
 * not trusted by the next scan.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ZooKeeperBackend } from '../../src/backends/zookeeper/index.js';
import { connect, type Coordinator, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { untilQueue } from '../interop/peers.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { packetsDuring, watchesOf } from '../support/zookeeper-inspect.js';
import { zooKeeperForTests } from '../support/zookeeper-for-tests.js';

const WAITERS = 100;

const zk = zooKeeperForTests();
const opened = zk.opened;

describe('the dashboard scan on ZooKeeper, counted by the server', () => {
  it(`watches name nodes and queue heads, not ${WAITERS} waiters; re-reads only what changed`, async (context) => {
    if (!zk.servers) return context.skip();
    const url = zk.servers.url({ chroot: `/baton-scan-cost-${process.pid}` });
    const open = async () => {
      const coord = await connect(url);
      opened.push(coord);
      return coord;
    };
    const [viewer, holderCoord, ...waiterCoords] = await Promise.all([open(), open(), open(), open()]);
    const prefix = `cost-${randomUUID().slice(0, 8)}`;
    const name = `${prefix}/jobs/nightly`;
    const holder = await holderCoord.mutex(name).acquire();
    const waiting: Array<Promise<Lease>> = [];
    for (let i = 0; i < WAITERS; i++) waiting.push(waiterCoords[i % waiterCoords.length]!.mutex(name).acquire());
    for (const wait of waiting) wait.catch(() => {}); // awaited below
    await untilQueue(backendOf(holderCoord), name, (entries) => entries.length === WAITERS + 1);

    const backend = backendOf(viewer) as ZooKeeperBackend;
    const session = BigInt((await backend.connection()).sessionId);
    const stop = new AbortController();
    const first = await backend.scan(prefix, stop.signal);
    expect(first.current.keys).toHaveLength(WAITERS + 1);

    // `wchc` lists a session's data watches: the scan holds one, on the queue's head, whatever the
    // queue's length (its children watches are one per name node).
    const watched = await watchesOf(zk.servers!, session);
    expect(watched, `the viewer's data watches: ${watched.join(' ')}`).toEqual([holder.key]);

    // Nothing changed: the scan answers from what its armed watches vouch for, without a request.
    const quietPackets = await packetsDuring(zk.servers!, session, async () => {
      const quiet = await backend.scan(prefix, stop.signal);
      expect(quiet.current.keys).toHaveLength(WAITERS + 1);
    });

    // A handoff: the queue's listing and the new head are read again, not the hundred waiters.
    await holder.release();
    // The two waiting coordinators' calls interleave in the queue: whichever is first is granted.
    const next = await Promise.race(waiting);
    await first.changed;
    let after!: Awaited<ReturnType<typeof backend.scan>>;
    const changedPackets = await packetsDuring(zk.servers!, session, async () => {
      after = await backend.scan(prefix, stop.signal);
    });
    expect(after.current.keys.map((key) => key.revision)).not.toContain(holder.token);
    expect(after.current.keys.map((key) => key.revision)).toContain(next.token);
    // A heartbeat may fall into either window: allow one.
    expect(quietPackets, 'packets for a scan of an unchanged tree').toBeLessThanOrEqual(1);
    expect(changedPackets, 'packets for a scan after one handoff').toBeLessThanOrEqual(4);
    console.log(`scan of ${WAITERS + 1} contenders: ${watched.length} data watch(es); ${quietPackets} packets unchanged, ${changedPackets} after a handoff`);

    stop.abort();
    await next.release();
    await Promise.all(waiting.map(async (wait) => (await wait) !== next && (await wait).release()));
  }, 60_000);

  it('a listing answered together with its own watch event is read again by the next scan', async (context) => {
    if (!zk.servers) return context.skip();
    const [host, port] = zk.servers.endpoints[0]!.split(':') as [string, string];
    const proxy = await startTcpProxy(Number(port), host);
    try {
      const chroot = `/baton-scan-race-${process.pid}`;
      const viewer = await connect(`zookeeper://127.0.0.1:${proxy.port}${chroot}`);
      const writer = await connect(zk.servers.url({ chroot }));
      opened.push(viewer, writer);
      const prefix = `race-${randomUUID().slice(0, 8)}`;
      await (await writer.mutex(`${prefix}/a`).acquire()).release(); // the prefix exists, no contender in it
      const backend = backendOf(viewer);
      const stop = new AbortController();

      // The scan's listing of the prefix reaches the proxy and is held there; then a new name is
      // created under the prefix, which fires the watch that listing set; both go out in one write.
      proxy.holdAnswers();
      const scanning = backend.scan!(prefix, stop.signal);
      await until(() => proxy.heldBytes > 0, 'the listing reached the proxy');
      const listed = proxy.heldBytes;
      const lease = await writer.mutex(`${prefix}/b`).acquire();
      await until(() => proxy.heldBytes > listed, 'the watch event reached the proxy');
      proxy.releaseAnswers();
      const first = await scanning;
      await first.changed;

      const second = await backend.scan!(prefix, stop.signal);
      expect(second.current.keys.map((key) => key.key), 'the next scan shows the new name').toEqual([lease.key]);
      stop.abort();
      await lease.release();
    } finally {
      proxy.releaseAnswers();
      await proxy.close();
    }
  }, 30_000);
});

/** Resolves once `ready()` holds, checked every 5 ms for at most 5 s. */
async function until(ready: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !ready(); waited += 5) {
    if (waited >= 5000) throw new Error(`not within 5 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

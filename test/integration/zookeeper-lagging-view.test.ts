/**
 * On ZooKeeper, an enqueue under a name the process follows reads its standing from the name's
 * view, fed on one session of the process (maybe another coordinator's). When that feed runs late
 * but its session is in contact, the enqueue waits for it: it does not list the queue itself.
 *
 * Before, an enqueue on another session gave up on the view after a second and listed the whole
 * queue. With 10,000 waiters started at once over 100 coordinators (bench/waiters.mjs) the feed
 * ran more than a second behind the creates, thousands of enqueues each listed a queue of
 * thousands, and the process read over 80 MB a second of listings for twenty seconds: the answers
 * to the sessions' heartbeats sat behind them in the sockets, unread, until the sessions were
 * declared lost (no answer through the leader for the session timeout), while the server had
 * nothing outstanding.
 *
 * Here: F reaches the server through a proxy the test controls and follows the name (a holder and
 * QUEUE waiters); B reaches it directly, in the same feed group (both have both addresses). The
 * proxy holds F's answers, so the view lags; B enters a waiter with onQueued. Its create is
 * answered at once; the test then lets more than the old second pass, and B must have read no
 * listing: its first report comes once F's answers are released, and says QUEUE.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZooKeeperBackend } from '../../src/backends/zookeeper/index.js';
import type { ZkConnection } from '../../src/backends/zookeeper/connection.js';
import { connect, type Coordinator, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/until.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

const wanted = localZooKeeperAvailable() || !!process.env.BATON_TEST_ZOOKEEPER_ENDPOINTS || process.env.CI === 'true';

/** F's waiters: a listing of the queue is this many names long, tens of kilobytes. */
const QUEUE = 300;
/** The time after which an enqueue used to give up on the view (1 s), with a margin. */
const PAST_THE_OLD_GIVE_UP_MS = 2500;

function connectionOf(coord: Coordinator): ZkConnection | undefined {
  return (backendOf(coord) as ZooKeeperBackend).liveConnection;
}

/** The bytes the client has read from the server on its current socket. */
function bytesRead(conn: ZkConnection): number {
  return (conn.client as unknown as { connectionManager: { socket: { bytesRead: number } } }).connectionManager.socket.bytesRead;
}

describe.skipIf(!wanted)('ZooKeeper: an enqueue whose view is fed on a session running late', () => {
  let servers: ZooKeeperServers | undefined;
  let proxy: TcpProxy | undefined;
  const opened: Coordinator[] = [];
  beforeAll(async () => {
    servers = await startZooKeeper(1);
    const [host, port] = servers!.endpoints[0]!.split(':') as [string, string];
    proxy = await startTcpProxy(Number(port), host);
  }, 120_000);
  afterAll(async () => {
    proxy?.releaseAnswers();
    await Promise.all(opened.map((coord) => coord.close()));
    await proxy?.close();
    await servers?.stop();
  });

  it('waits for the view while the feed is in contact, and lists nothing', async () => {
    // Both addresses in one URL: one feed group. The client picks one at random: coordinators are
    // opened until one went through the proxy (F, the feed's) and one did not (B).
    const url = `zookeeper://${servers!.endpoints[0]},127.0.0.1:${proxy!.port}?sessionTimeout=30000`;
    let f: Coordinator | undefined;
    let b: Coordinator | undefined;
    for (let tries = 0; tries < 60 && (f === undefined || b === undefined); tries++) {
      const accepted = proxy!.accepted;
      const coord = await connect(url);
      const throughProxy = proxy!.accepted > accepted;
      if (throughProxy && f === undefined) f = coord;
      else if (!throughProxy && b === undefined) b = coord;
      else {
        await coord.close();
        continue;
      }
      opened.push(coord);
    }
    expect(f, 'a coordinator through the proxy').toBeDefined();
    expect(b, 'a coordinator on the server directly').toBeDefined();

    const name = `lagging-view/${Math.random().toString(36).slice(2, 8)}`;
    const holder: Lease = await f!.mutex(name).acquire();
    // F's waiters follow the name (several on one coordinator): the feed runs on F's session.
    let entered = 0;
    const fWaiters = Array.from({ length: QUEUE }, () => f!.mutex(name).acquire({ onQueued: () => void entered++ }));
    for (const waiter of fWaiters) waiter.catch(() => {});
    await until(() => entered >= QUEUE, `F's ${QUEUE} waiters in line`, 60_000);

    const bConn = connectionOf(b!)!;
    const reports: number[] = [];
    proxy!.holdAnswers();
    const bWaiter = b!.mutex(name).acquire({ onQueued: (position) => reports.push(position) });
    bWaiter.catch(() => {});
    // B's create is answered directly: its node is there (read on B's session: the holder, F's
    // waiters and B's), and the view, fed through the proxy, does not show it. The old enqueue
    // listed the queue a second after the create's answer.
    await until(async () => (await bConn.getChildren(`/${name}`)).children.length === QUEUE + 2, "B's node created");
    const listingProbe = bytesRead(bConn);
    await new Promise((resolve) => setTimeout(resolve, PAST_THE_OLD_GIVE_UP_MS));
    const readWhileHeld = bytesRead(bConn) - listingProbe;
    expect(reports, 'no report before the view shows B').toEqual([]);

    proxy!.releaseAnswers();
    await until(() => reports.length > 0, "B's first report", 30_000);
    expect(reports[0]).toBe(QUEUE);

    // What one listing of the queue costs B, read now for comparison.
    const start = bytesRead(bConn);
    await bConn.getChildren(`/${name}`);
    const listing = bytesRead(bConn) - start;
    expect(listing).toBeGreaterThan(QUEUE * 40);
    // While F's answers were held B read no listing (a heartbeat answer is some tens of bytes).
    expect(readWhileHeld).toBeLessThan(listing / 10);

    await holder.release();
    for (const waiter of fWaiters) await (await waiter).release();
    await (await bWaiter).release();
  }, 120_000);
});

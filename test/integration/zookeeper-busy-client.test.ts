/**
 * A ZooKeeper session whose process was busy past its loss deadline is kept when a heartbeat's
 * answer came in time and is waiting to be read.
 *
 * Node runs due timers before it reads the sockets. The session's loss deadline (the last answer
 * through the leader + the session timeout, src/backends/zookeeper/connection.ts) and its check
 * for a silent server (every fifth of the timeout) then fired before the answers that came while
 * the process was busy were read: the silence check dropped the connection (the unread answer
 * with it), and the deadline declared the session lost ("no answer through the leader for its
 * session timeout") while the server had answered within milliseconds. With 10,000 waiters entering
 * at once over 100 coordinators at load 9, the process's event loop stood still for 5 s at a time
 * and sessions of 10 s were lost so (bench/waiters.mjs, 2 runs of 2).
 *
 * Here: a 4 s session on a test-owned server. Once its latest proof is a little old, a sync goes
 * out, and the process is kept busy until past the loss deadline, but not past the deadline the
 * sync's answer gives: the answer, there long before, must win.
 */
import { describe, expect, it } from 'vitest';
import type { ZkConnection } from '../../src/backends/zookeeper/connection.js';
import { heartbeatIntervalOf, leaderLagOf } from '../../src/backends/zookeeper/connection.js';
import type { ZooKeeperBackend } from '../../src/backends/zookeeper/index.js';
import { connect, type Coordinator } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { until } from '../support/until.js';
import { localZooKeeperAvailable } from '../support/zookeeper-server.js';
import { zooKeeperForTests } from '../support/zookeeper-for-tests.js';

const wanted = localZooKeeperAvailable() || !!process.env.BATON_TEST_ZOOKEEPER_ENDPOINTS || process.env.CI === 'true';

const TIMEOUT_MS = 4000;
/** How far the busy spell reaches past the loss deadline. */
const PAST_DEADLINE_MS = 300;

describe.skipIf(!wanted)('ZooKeeper: a process busy past its session loss deadline', () => {
  const zk = zooKeeperForTests();
  const opened = zk.opened;

  it('keeps the session when a heartbeat answer came in time, read after the deadline came due', async () => {
    const coord = await connect(zk.servers!.url({ sessionTimeout: TIMEOUT_MS }));
    opened.push(coord);
    const conn: ZkConnection = await (backendOf(coord) as ZooKeeperBackend).connection();
    expect(conn.timeout).toBe(TIMEOUT_MS);
    const lag = leaderLagOf(TIMEOUT_MS);
    // Heartbeats go every fifth of the timeout: wait until the latest proof is half an interval
    // old, so the loss deadline comes before the one the next sync's answer gives.
    const margin = heartbeatIntervalOf(TIMEOUT_MS) / 2;
    await until(() => conn.lossAt - Date.now() < TIMEOUT_MS - lag - margin, 'the latest proof half a heartbeat old', 10_000);

    const sentAt = performance.now();
    const sync = conn.sync();
    const outcome = sync.then(
      () => 'answered',
      (error: unknown) => `failed: ${(error as Error).message}`,
    );
    // Requests leave when the turn ends (they are coalesced into one write): let it end.
    await new Promise((resolve) => setImmediate(resolve));
    const busyUntil = performance.now() + (conn.lossAt - Date.now()) + PAST_DEADLINE_MS;
    // The sync's answer proves contact at its send time less the ping allowance.
    expect(busyUntil).toBeLessThan(sentAt - lag + TIMEOUT_MS);
    while (performance.now() < busyUntil);

    expect(await outcome).toBe('answered');
    expect(conn.alive, 'the session is kept').toBe(true);
    // And it goes on: the next heartbeat moves the deadline again.
    const lossAt = conn.lossAt;
    await until(() => conn.lossAt > lossAt, 'a later heartbeat answered', 10_000);
    expect(conn.alive).toBe(true);
  }, 60_000);
});

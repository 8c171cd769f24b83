/**
 * Loss and survival with real faults on real ZooKeeper servers: a holder process paused past its
 * session timeout, a server restarted within it, and the leader of a 3-server ensemble killed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as delay } from 'node:timers/promises';
import { heartbeatIntervalOf, leaderLagOf } from '../../src/backends/zookeeper/connection.js';
import { connect, type Coordinator, type Lease, LeaseLostError } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { batonPeer, ensureDist, type Peer, untilQueue } from '../interop/peers.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';
import { serverUnavailable } from '../support/servers.js';

// These tests stop and start servers, so they need local ones (env endpoints cannot be controlled).
const available = localZooKeeperAvailable();
if (!available) serverUnavailable('ZooKeeper fault tests', 'they start, stop and kill their own servers: install java and the Debian "zookeeper" package');

const coords: Coordinator[] = [];
const peers: Peer[] = [];
async function open(url: string): Promise<Coordinator> {
  const coord = await connect(url);
  coords.push(coord);
  return coord;
}
afterAll(async () => {
  await Promise.all(peers.map((peer) => peer.stop()));
  await Promise.all(coords.map((coord) => coord.close()));
});

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

describe.skipIf(!available)('one server', () => {
  let servers: ZooKeeperServers;
  beforeAll(async () => {
    ensureDist();
    servers = (await startZooKeeper(1, { needControl: true }))!;
  }, 120_000);
  afterAll(async () => {
    await servers?.stop();
  });

  it('a holder paused past its session timeout is overtaken by a waiter with a higher token, and sees its loss on SIGCONT', async () => {
    const name = `faults/paused-${process.pid}`;
    const holder = batonPeer(servers.url({ sessionTimeout: 2000 }), 'lock', name);
    peers.push(holder);
    const held = await holder.waitFor(/^HELD /);
    const [, heldKey, heldToken] = held.split(' ');
    const waiterCoord = await open(servers.url({ sessionTimeout: 5000 }));
    let queued!: () => void;
    const isQueued = new Promise<void>((resolve) => (queued = resolve));
    const waiting = waiterCoord.mutex(name).acquire({ onQueued: () => queued() });
    await isQueued;

    holder.child.kill('SIGSTOP');
    // The server expires the paused holder's session and deletes its node: the waiter holds.
    const successor = await waiting;
    expect(successor.token > BigInt(heldToken!)).toBe(true);
    expect(await backendOf(waiterCoord).list(name)).toEqual([{ key: successor.key, role: 'lock' }]);
    expect(holder.has(/^LOST/)).toBe(false);

    holder.child.kill('SIGCONT');
    const lost = await holder.waitFor(/^LOST /, 15_000);
    expect(lost).toMatch(/session/);
    expect(heldKey).not.toBe(successor.key);
    expect(successor.signal.aborted).toBe(false);
    await successor.release();
  });

  it('a server frozen for less than timeout - heartbeat - leader lag keeps every hold, whatever the phase', async () => {
    // Sixteen sessions connect and acquire at once, at phases spread over two thirds of the
    // timeout, then the server is frozen (SIGSTOP) once for all of them: each meets the freeze at
    // a different point of its heartbeat schedule.
    const timeout = 4000;
    const frozenMs = timeout - heartbeatIntervalOf(timeout) - leaderLagOf(timeout) - 400;
    const sessions = 16;
    const spreadMs = (2 * timeout) / 3;
    const leases: Lease[] = [];
    for (let i = 0; i < sessions; i++) {
      const coord = await open(servers.url({ sessionTimeout: timeout }));
      leases.push(await coord.mutex(`faults/phase-${process.pid}-${i}`).acquire());
      await delay(spreadMs / sessions);
    }
    const frozenAt = performance.now();
    servers.pauseServer(0);
    await delay(frozenMs);
    servers.resumeServer(0);
    // Every session's deadline from before the freeze has come due by frozenAt + timeout: a hold
    // that outlives it was kept alive by an answer after the thaw.
    await delay(Math.max(0, frozenAt + timeout + 500 - performance.now()));
    const lost = leases.flatMap((lease, i) => (lease.signal.aborted ? [`${i}: ${String((lease.signal.reason as Error).cause ?? lease.signal.reason)}`] : []));
    expect(lost, `frozen ${frozenMs} ms with a ${timeout} ms session timeout`).toEqual([]);
    await Promise.all(leases.map((lease) => lease.release()));
  }, 60_000);

  it('a server restart shorter than the session timeout keeps the hold', async () => {
    const name = `faults/restart-${process.pid}`;
    const coord = await open(servers.url({ sessionTimeout: 30_000 }));
    const lease = await coord.mutex(name).acquire();
    await servers.stopServer(0);
    await servers.startServer(0);
    // Any read proves the client is back on its session; list retries over the reconnect.
    const other = await open(servers.url());
    expect(await backendOf(coord).list(name)).toEqual([{ key: lease.key, role: 'lock' }]);
    expect(lease.signal.aborted).toBe(false);
    expect(await other.mutex(name).tryAcquire()).toBeUndefined();
    expect(await lease.guardedWrite([{ put: `faults-restart-${process.pid}`, value: 'still mine' }])).toBe(true);
    await lease.release();
    const next = await other.mutex(name).acquire({ timeoutMs: 10_000 });
    expect(next.token > lease.token).toBe(true);
    await next.release();
  });

  it('a server gone for longer than the session timeout ends the hold on the client side', async () => {
    const name = `faults/gone-${process.pid}`;
    const coord = await open(servers.url({ sessionTimeout: 1000 }));
    const lease = await coord.mutex(name).acquire();
    const started = performance.now();
    await servers.stopServer(0, true);
    try {
      const reason = await aborted(lease.signal);
      expect(reason).toBeInstanceOf(LeaseLostError);
      expect(String((reason as Error).cause)).toMatch(/no answer .* session timeout of \d+ ms/);
      // Declared within the timeout of the last answer, not after retrying for ever.
      expect(performance.now() - started).toBeLessThan(3000);
    } finally {
      await servers.startServer(0);
    }
    // The coordinator outlives the lost session: a new one serves the next acquire.
    const again = await coord.mutex(name).acquire({ timeoutMs: 10_000 });
    expect(again.token > lease.token).toBe(true);
    await again.release();
  });
});

describe.skipIf(!available)('3-server ensemble', () => {
  let servers: ZooKeeperServers;
  beforeAll(async () => {
    servers = (await startZooKeeper(3, { needControl: true }))!;
  }, 180_000);

  afterAll(async () => {
    await servers?.stop();
  });

  it('keeps mutual exclusion when the leader is killed, and serves every waiter', async () => {
    const name = `faults/failover-${process.pid}`;
    const workers = 4;
    const rounds = 6;
    const clients = await Promise.all(Array.from({ length: workers }, () => open(servers.url({ sessionTimeout: 10_000 }))));
    let inside = 0;
    let maxInside = 0;
    let counter = 0;
    let done = 0;
    let killed: Promise<void> | undefined;
    const lost: unknown[] = [];
    const tokens: bigint[] = [];
    await Promise.all(
      clients.map(async (coord) => {
        for (let i = 0; i < rounds; i++) {
          await coord.mutex(name).withLock(async (lease) => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            tokens.push(lease.token);
            const seen = counter;
            // Halfway through, kill the leader while this holder is inside.
            if (++done === (workers * rounds) / 2) {
              const leader = await servers.leader();
              killed = servers.stopServer(leader, true);
              await killed;
              // The hold survives the failover: ask the ensemble (any server) for the queue.
              await backendOf(coord).list(name);
            }
            await new Promise((resolve) => setImmediate(resolve));
            counter = seen + 1;
            if (lease.signal.aborted) lost.push(lease.signal.reason);
            inside--;
          });
        }
      }),
    );
    expect(killed).toBeDefined();
    expect(lost).toEqual([]);
    expect(maxInside).toBe(1);
    expect(counter).toBe(workers * rounds);
    expect(tokens).toEqual([...tokens].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(await untilQueue(backendOf(clients[0]!), name, (entries) => entries.length === 0)).toEqual([]);
  }, 90_000);
});

describe.skipIf(!available)('3-server ensemble, quorum links through proxies', () => {
  let servers: ZooKeeperServers;
  beforeAll(async () => {
    servers = (await startZooKeeper(3, { needControl: true, proxiedQuorum: true }))!;
  }, 180_000);
  afterAll(async () => {
    await servers?.stop();
  });

  it("a holder on a follower cut off from the leader signals loss before anyone else is granted", async () => {
    const leader = await servers.leader();
    const follower = (leader + 1) % 3;
    const others = [0, 1, 2].filter((i) => i !== follower).map((i) => servers.endpoints[i]);
    const name = `faults/isolated-${process.pid}`;
    // The holder talks only to the follower; the waiter only to the other two servers.
    const holderCoord = await open(`zookeeper://${servers.endpoints[follower]}?sessionTimeout=2000`);
    const waiterCoord = await open(`zookeeper://${others.join(',')}?sessionTimeout=2000`);
    const lease = await holderCoord.mutex(name).acquire();
    let queued!: () => void;
    const isQueued = new Promise<void>((resolve) => (queued = resolve));
    const events: string[] = [];
    let lostAt = 0;
    let grantedAt = 0;
    const waiting = waiterCoord
      .mutex(name)
      .acquire({ onQueued: () => queued(), timeoutMs: 20_000 })
      .then((next) => {
        grantedAt = performance.now();
        events.push('granted');
        return next;
      });
    lease.signal.addEventListener('abort', () => {
      lostAt = performance.now();
      events.push('lost');
    });
    await isQueued;
    const link = servers.quorumLink(follower, leader)!;
    const silencedAt = performance.now();
    link.silence();
    try {
      const next = await waiting;
      await aborted(lease.signal);
      expect(events, `lost ${Math.round(lostAt - silencedAt)} ms and granted ${Math.round(grantedAt - silencedAt)} ms after the silence`).toEqual(['lost', 'granted']);
      expect(next.token > lease.token).toBe(true);
      await next.release();
    } finally {
      link.restore();
    }
  }, 90_000);
});

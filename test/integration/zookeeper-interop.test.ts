/**
 * Baton shares locks, elections and semaphores with Apache Curator and kazoo on one ZooKeeper:
 * while one side holds the other waits, holders follow queue order whoever queued, a Curator
 * LeaderLatch and a Baton election agree on one leader, and a Curator InterProcessSemaphoreV2
 * and a Baton semaphore with the same permits never hold more together.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { compileCurator, curatorMissing, curatorPeer, kazooMissing, kazooPeer, type Peer, untilQueue } from '../interop/peers.js';
import { serverUnavailable } from '../support/servers.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

const serverMissing = localZooKeeperAvailable() || process.env.BATON_TEST_ZOOKEEPER_ENDPOINTS ? undefined : 'no ZooKeeper';
const curatorReason = serverMissing ?? curatorMissing();
const kazooReason = serverMissing ?? kazooMissing();
if (curatorReason) serverUnavailable('Curator interop', curatorReason);
if (kazooReason) serverUnavailable('kazoo interop', kazooReason);

let servers: ZooKeeperServers;
let curator: { classpath: string; remove(): void } | undefined;
const coords: Coordinator[] = [];
const peers: Peer[] = [];

beforeAll(async () => {
  if (serverMissing) return;
  servers = (await startZooKeeper(1))!;
  if (!curatorReason) curator = compileCurator();
}, 120_000);
afterEach(async () => {
  await Promise.all(peers.splice(0).map((peer) => peer.stop()));
});
afterAll(async () => {
  await Promise.all(coords.map((coord) => coord.close()));
  curator?.remove();
  await servers?.stop();
});

async function baton(): Promise<Coordinator> {
  const coord = await connect(servers.url());
  coords.push(coord);
  return coord;
}
const connectString = () => servers.endpoints.join(',');
const track = (peer: Peer) => (peers.push(peer), peer);
const unique = (label: string) => `interop/${label}-${randomUUID().slice(0, 8)}`;

/** Starts a waiting acquire and resolves once its node is in the queue (wrapped: not awaited). */
async function queuedAcquire(coord: Coordinator, name: string): Promise<{ lease: Promise<Lease> }> {
  let queued!: () => void;
  const isQueued = new Promise<void>((resolve) => (queued = resolve));
  const lease = coord.mutex(name).acquire({ onQueued: () => queued() });
  await Promise.race([isQueued, lease]);
  return { lease };
}

/** Whether `promise` is still pending once already-queued callbacks have run. */
async function pending(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const result = await Promise.race([promise.then(() => 1, () => 1), new Promise((resolve) => setImmediate(() => resolve(marker)))]);
  return result === marker;
}

/** The mutex test both peers run: the peer holds first, then queues between two Baton contenders. */
function mutexInterop(label: string, reason: () => string | undefined, start: (path: string) => Peer) {
  describe.skipIf(!!reason())(`mutex with ${label}`, () => {
    it(`waits while ${label} holds, and takes over when it releases`, async () => {
      const name = unique(`${label}-first`);
      const coord = await baton();
      const peer = track(start(`/${name}`));
      const held = await peer.waitFor(/^HELD /);
      expect(await coord.mutex(name).tryAcquire()).toBeUndefined();
      const { lease } = await queuedAcquire(coord, name);
      expect(await pending(lease)).toBe(true);
      peer.send('release');
      await peer.waitFor(/^RELEASED$/);
      const mine = await lease;
      expect(mine.key).not.toBe(held.slice(5));
      await mine.release();
    });

    it(`grants in queue order across Baton and ${label}: Baton, ${label}, Baton`, async () => {
      const name = unique(`${label}-order`);
      const [a, b] = await Promise.all([baton(), baton()]);
      const first = await a.mutex(name).acquire();
      const peer = track(start(`/${name}`));
      await peer.waitFor(/^WAITING$/);
      // The peer's node is in the queue once the listing has two contenders.
      await untilQueue(backendOf(a), name, (entries) => entries.length === 2);
      const { lease: third } = await queuedAcquire(b, name);
      const queue = await backendOf(a).list(name);
      expect(queue).toHaveLength(3);
      expect(queue[0]!.key).toBe(first.key);

      await first.release();
      await peer.waitFor(/^HELD /);
      // The peer holds; the Baton contender queued after it still waits.
      expect(await pending(third)).toBe(true);
      expect(await b.mutex(name).tryAcquire()).toBeUndefined();
      peer.send('release');
      await peer.waitFor(/^RELEASED$/);
      const last = await third;
      expect(last.token > first.token).toBe(true);
      await last.release();
    });
  });
}

mutexInterop('Curator', () => curatorReason, (path) => curatorPeer(curator!.classpath, connectString(), 'lock', path));
mutexInterop('kazoo', () => kazooReason, (path) => kazooPeer(connectString(), 'lock', path));

describe.skipIf(!!curatorReason)('election with a Curator LeaderLatch', () => {
  it('agrees on one leader, whichever side leads', async () => {
    const name = unique('latch');
    const coord = await baton();
    const observerCoord = await baton();
    const election = coord.election(name);
    const leadership = await election.campaign('baton-1');

    const latch = track(curatorPeer(curator!.classpath, connectString(), 'latch', `/${name}`, 'curator-1'));
    await latch.waitFor(/^WAITING$/);
    await untilQueue(backendOf(coord), name, (entries) => entries.length === 2);
    // Curator sees Baton's node as the lowest latch node: it does not lead.
    expect(latch.has(/^LEADER/)).toBe(false);
    expect(await observerCoord.election(name).leader()).toMatchObject({ value: 'baton-1', token: leadership.token });

    await leadership.resign();
    await latch.waitFor(/^LEADER curator-1$/);
    const leader = await observerCoord.election(name).leader();
    expect(leader?.value).toBe('curator-1');
    expect(leader!.token > leadership.token).toBe(true);

    // Now Baton campaigns behind Curator and wins only when the latch closes.
    const second = coord.election(name).campaign('baton-2');
    await untilQueue(backendOf(coord), name, (entries) => entries.length === 2);
    expect(await pending(second)).toBe(true);
    latch.send('close');
    await latch.waitFor(/^CLOSED$/);
    const again = await second;
    expect(await observerCoord.election(name).leader()).toMatchObject({ value: 'baton-2', token: again.token });
    await again.resign();
  });
});

describe.skipIf(!!curatorReason)('semaphore with a Curator InterProcessSemaphoreV2', () => {
  it('never holds more than the permits together', async () => {
    const name = unique('sem');
    const permits = 2;
    const [a, b] = await Promise.all([baton(), baton()]);
    const leasesOf = async () => (await backendOf(a).list(`${name}/leases`)).length;
    // Holders right now: Baton's leases not yet released, Curator peers between HELD and RELEASED.
    let batonHolding = 0;
    const holding = (peer: Peer) => peer.has(/^HELD /) && !peer.has(/^RELEASED$/);
    const mine = await a.semaphore(name, { permits }).acquire();
    batonHolding++;
    const first = track(curatorPeer(curator!.classpath, connectString(), 'semaphore', `/${name}`, String(permits)));
    await first.waitFor(/^HELD /);
    expect(batonHolding + Number(holding(first))).toBe(2);

    // Both permits are taken, one by each side: Baton waits, and so does a second Curator.
    expect(await b.semaphore(name, { permits }).tryAcquire()).toBeUndefined();
    let queued!: () => void;
    const isQueued = new Promise<void>((resolve) => (queued = resolve));
    const waiting = b.semaphore(name, { permits }).acquire({ onQueued: () => queued() });
    await isQueued;
    const second = track(curatorPeer(curator!.classpath, connectString(), 'semaphore', `/${name}`, String(permits)));
    await second.waitFor(/^WAITING$/);
    await untilQueue(backendOf(a), `${name}/locks`, (entries) => entries.length === 2);
    expect(await pending(waiting)).toBe(true);
    expect(second.has(/^HELD/)).toBe(false);
    // The internal-lock holder has created its lease node and waits for one to go, as Curator's
    // own waiter would: lease nodes can exceed the permits by that one waiter, holders cannot.
    expect(await leasesOf()).toBeLessThanOrEqual(permits + 1);
    expect(batonHolding + Number(holding(first)) + Number(holding(second))).toBe(2);

    // Curator returns its lease: the Baton waiter (first in the internal queue) takes it.
    first.send('release');
    await first.waitFor(/^RELEASED$/);
    const theirs = await waiting;
    batonHolding++;
    expect(second.has(/^HELD/)).toBe(false);
    expect(batonHolding + Number(holding(first)) + Number(holding(second))).toBe(2);

    // Baton returns one: the second Curator gets it; never more than two at any point seen.
    await mine.release();
    batonHolding--;
    await second.waitFor(/^HELD /);
    expect(batonHolding + Number(holding(first)) + Number(holding(second))).toBe(2);
    second.send('release');
    await second.waitFor(/^RELEASED$/);
    await theirs.release();
    expect(await leasesOf()).toBe(0);
  });
});

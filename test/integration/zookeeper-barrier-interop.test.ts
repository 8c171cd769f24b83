/**
 * Baton's barrier is kazoo's Barrier on ZooKeeper: the node at `<chroot>/<name>`. Whichever side
 * sets it, the other side waits until it is removed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { kazooMissing, kazooPeer, type Peer } from '../interop/peers.js';
import { serverUnavailable } from '../support/servers.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

const reason = (localZooKeeperAvailable() || process.env.BATON_TEST_ZOOKEEPER_ENDPOINTS ? undefined : 'no ZooKeeper') ?? kazooMissing();
if (reason) serverUnavailable('kazoo barrier interop', reason);

const CHROOT = '/barrier-interop';
let servers: ZooKeeperServers | undefined;
let coord: Coordinator;
const peers: Peer[] = [];

beforeAll(async () => {
  if (reason) return;
  servers = await startZooKeeper(1);
  coord = await connect(servers!.url({ chroot: CHROOT }));
}, 120_000);
afterEach(async () => {
  await Promise.all(peers.splice(0).map((peer) => peer.stop()));
});
afterAll(async () => {
  await coord?.close();
  await servers?.stop();
});

const kazoo = (...args: string[]) => {
  const peer = kazooPeer(servers!.endpoints.join(','), ...args);
  peers.push(peer);
  return peer;
};

/** Whether `promise` is still pending after one more round trip to the server. */
async function stillPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true), () => (settled = true));
  await coord.barrier('interop/probe').isSet();
  return !settled;
}

describe.skipIf(!!reason)('barrier with kazoo', () => {
  it('waits on a barrier kazoo set, and passes when kazoo removes it', async () => {
    const name = `interop/set-by-kazoo-${randomUUID().slice(0, 8)}`;
    const setter = kazoo('barrier-set', `${CHROOT}/${name}`);
    await setter.waitFor(/^SET$/);
    expect(await coord.barrier(name).isSet()).toBe(true);
    const waiting = coord.barrier(name).wait({ timeoutMs: 30_000 });
    expect(await stillPending(waiting)).toBe(true);
    setter.send('remove');
    await setter.waitFor(/^REMOVED$/);
    await waiting;
  });

  it('holds kazoo at a barrier Baton set until Baton removes it', async () => {
    const name = `interop/set-by-baton-${randomUUID().slice(0, 8)}`;
    expect(await coord.barrier(name).set()).toBe(true);
    const waiter = kazoo('barrier-wait', `${CHROOT}/${name}`);
    await waiter.waitFor(/^WAITING$/);
    // kazoo's wait reads the node with a watch; a second Baton read after it shows it still there.
    expect(await coord.barrier(name).isSet()).toBe(true);
    expect(waiter.has(/^PASSED$/)).toBe(false);
    expect(await coord.barrier(name).remove()).toBe(true);
    await waiter.waitFor(/^PASSED$/);
  });
});

/**
 * What a ZooKeeper coordinator tells about its connection, against a real server it freezes
 * (SIGSTOP) and thaws: health goes out of contact within the bound its session timeout sets,
 * back to connected on the thaw, lost after the timeout; the session timeout the server
 * negotiated (clamped by maxSessionTimeout in zoo.cfg) is the one used and reported; names inside
 * the server's reserved /zookeeper tree are refused; reads never create the chroot.
 */
import zookeeper from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type HealthEvent, InvalidArgumentError, LeaseLostError } from '../../src/index.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';
import { followHealth } from '../support/health-events.js';
import { serverUnavailable } from '../support/servers.js';

const available = localZooKeeperAvailable();
if (!available) serverUnavailable('ZooKeeper health tests', 'they freeze their own server: install java and the Debian "zookeeper" package');

/** The server's ceiling on session timeouts (zoo.cfg maxSessionTimeout). */
const MAX_SESSION_TIMEOUT = 3000;

let servers: ZooKeeperServers;
const coords: Coordinator[] = [];
async function open(url: string): Promise<Coordinator> {
  const coord = await connect(url);
  coords.push(coord);
  return coord;
}
beforeAll(async () => {
  servers = (await startZooKeeper(1, { needControl: true, maxSessionTimeout: MAX_SESSION_TIMEOUT }))!;
}, 120_000);
afterAll(async () => {
  await Promise.all(coords.map((coord) => coord.close()));
  await servers?.stop();
});

function exists(path: string): Promise<boolean> {
  const client = zookeeper.createClient(servers.endpoints.join(','), { sessionTimeout: 2000 });
  return new Promise((resolve, reject) => {
    client.once('connected', () =>
      client.exists(path, (error, stat) => {
        client.close();
        if (error) reject(error);
        else resolve(!!stat);
      }),
    );
    client.connect();
  });
}

describe.skipIf(!available)('ZooKeeper health', () => {
  it('reports the session timeout the server negotiated, and loses a frozen hold by it, not by the one asked for', async () => {
    // Asked for 30 s; the server grants at most MAX_SESSION_TIMEOUT.
    const coord = await open(servers.url({ sessionTimeout: 30_000 }));
    const lease = await coord.mutex(`health/negotiated-${process.pid}`).acquire();
    expect(coord.health()).toMatchObject({ state: 'connected', ttlMs: MAX_SESSION_TIMEOUT, requestedTtlMs: 30_000 });
    const health = followHealth(coord);
    const frozenAt = Date.now();
    servers.pauseServer(0);
    try {
      const lost = await health.next('lost', 15_000);
      // Lost by the granted 3 s (plus scheduling), far from the 30 s asked for.
      expect(lost.at - frozenAt).toBeLessThan(MAX_SESSION_TIMEOUT + 2500);
      expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
    } finally {
      servers.resumeServer(0);
    }
    // Contact returns with the next request: a new session, with the same negotiated timeout.
    await coord.mutex(`health/negotiated-${process.pid}`).status();
    await health.next('reconnected', 10_000);
    health.stop();
    expect(coord.health()).toMatchObject({ state: 'connected', ttlMs: MAX_SESSION_TIMEOUT });
  });

  it('goes out of contact when the server freezes, with the time left, and back to connected when it thaws', async () => {
    const coord = await open(servers.url({ sessionTimeout: MAX_SESSION_TIMEOUT }));
    const lease = await coord.mutex(`health/freeze-${process.pid}`).acquire();
    const health = followHealth(coord);
    expect(coord.health().state).toBe('connected');
    const frozenAt = Date.now();
    servers.pauseServer(0);
    let outOfContact: HealthEvent;
    try {
      outOfContact = await health.next('out-of-contact', MAX_SESSION_TIMEOUT + 2000);
    } finally {
      servers.resumeServer(0);
    }
    // Seen before the session would be lost, with the time left until then.
    expect(outOfContact.at - frozenAt).toBeLessThan(MAX_SESSION_TIMEOUT);
    expect(outOfContact.lossInMs).toBeGreaterThan(0);
    expect(outOfContact.lossInMs).toBeLessThanOrEqual(MAX_SESSION_TIMEOUT);
    const back = await health.next('reconnected', 10_000).catch(() => undefined);
    health.stop();
    // Thawed within the timeout, the client is back on its session and the hold survives; on a
    // slow machine the thaw can come too late, and then the loss must have been reported.
    if (back) {
      expect(coord.health()).toMatchObject({ state: 'connected' });
      expect(lease.signal.aborted).toBe(false);
    } else {
      expect(health.events.map((e) => e.type)).toContain('lost');
    }
    await lease.release();
  });

  it('refuses names inside the /zookeeper tree without a chroot, and accepts them under a chroot', async () => {
    const bare = await open(servers.url());
    const error = await bare.mutex('zookeeper/quota').acquire({ timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(/\/zookeeper tree the ZooKeeper server reserves/);
    await expect(bare.election('zookeeper').leader()).rejects.toBeInstanceOf(InvalidArgumentError);
    const chrooted = await open(servers.url({ chroot: `/health-${process.pid}` }));
    const lease = await chrooted.mutex('zookeeper/quota').acquire({ timeoutMs: 5000 });
    await lease.release();
  });

  it('reads do not create the chroot', async () => {
    const chroot = `/health-reads-${process.pid}`;
    const coord = await open(servers.url({ chroot }));
    expect(await coord.election('jobs').leader()).toBeUndefined();
    expect((await coord.mutex('jobs').status()).holders).toEqual([]);
    expect(await coord.readKey('jobs/config')).toBeUndefined();
    expect(await exists(chroot)).toBe(false);
    const lease = await coord.mutex('jobs').acquire();
    expect(await exists(chroot)).toBe(true);
    await lease.release();
  });
});

/**
 * What an etcd coordinator tells about its connection, against a real etcd it freezes (SIGSTOP)
 * and thaws: out of contact once keep-alives go unanswered, with the time left; back to connected
 * when they are answered again; lost at the TTL when they are not; reconnected with the next call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type HealthEvent, LeaseLostError } from '../../src/index.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { followHealth } from '../support/health-events.js';
import { serverUnavailable } from '../support/servers.js';
import { until } from '../support/until.js';

const available = localEtcdAvailable();
if (!available) serverUnavailable('etcd health tests', 'they freeze their own server: install the Debian "etcd-server" package');

let servers: EtcdServers;
const coords: Coordinator[] = [];
async function open(ttl: number): Promise<Coordinator> {
  const coord = await connect(servers.url({ ttl, namespace: `health-${process.pid}/` }));
  coords.push(coord);
  return coord;
}
beforeAll(async () => {
  servers = (await startEtcd())!;
}, 120_000);
afterAll(async () => {
  await Promise.all(coords.map((coord) => coord.close()));
  await servers?.stop();
});

/** Waits until the thawed member serves again (it may elect itself first). */
async function serving(coord: Coordinator): Promise<void> {
  let failure: unknown;
  const answers = () => coord.mutex('health/probe').status().then(() => true, (error: unknown) => ((failure = error), false));
  await until(answers, () => `the thawed member serving (last failure: ${failure})`, 15_000);
}

describe.skipIf(!available)('etcd health', () => {
  it('goes out of contact when the server freezes, with the time left, and back to connected when it thaws', async () => {
    const ttl = 6;
    const coord = await open(ttl);
    const lease = await coord.mutex('health/freeze').acquire();
    expect(coord.health()).toMatchObject({ backend: 'etcd', state: 'connected', ttlMs: ttl * 1000 });
    const health = followHealth(coord);
    const frozenAt = Date.now();
    servers.pauseMember(0);
    let outOfContact: HealthEvent;
    try {
      // A keep-alive goes out every TTL/3 and is given up after an attempt's deadline (< 3.5 s).
      outOfContact = await health.next('out-of-contact', ttl * 1000);
    } finally {
      servers.resumeMember(0);
    }
    expect(outOfContact.at - frozenAt).toBeLessThan(ttl * 1000);
    expect(outOfContact.lossInMs).toBeGreaterThan(0);
    expect(outOfContact.lossInMs).toBeLessThanOrEqual(ttl * 1000);
    const back = await health.next('reconnected', 15_000).catch(() => undefined);
    health.stop();
    // Thawed within the TTL the lease is kept; on a slow machine the thaw can come too late,
    // and then the loss must have been reported.
    if (back) expect(lease.signal.aborted).toBe(false);
    else expect(health.events.map((e) => e.type)).toContain('lost');
    await lease.release();
  });

  it('reports the loss at the TTL while frozen, and reconnects with the next call after the thaw', async () => {
    const ttl = 2;
    const coord = await open(ttl);
    const lease = await coord.mutex('health/lost').acquire();
    const health = followHealth(coord);
    const frozenAt = Date.now();
    servers.pauseMember(0);
    let lost: HealthEvent;
    try {
      lost = await health.next('lost', ttl * 1000 + 5000);
    } finally {
      servers.resumeMember(0);
    }
    // At the client's deadline: last answered keep-alive + TTL, so within the TTL of the freeze.
    expect(lost.at - frozenAt).toBeLessThan(ttl * 1000 + 1000);
    expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
    expect(coord.health().state).toBe('lost');
    await serving(coord);
    const again = await coord.mutex('health/lost').acquire({ timeoutMs: 10_000 });
    await health.next('reconnected', 5000);
    health.stop();
    expect(coord.health().state).toBe('connected');
    await again.release();
  });
});

/**
 * What a Redis coordinator tells about its connection, against a real redis-server it freezes
 * (SIGSTOP), thaws and kills: out of contact once a renewal goes unanswered (or the link breaks),
 * with the time left; back to connected when renewals are answered again; lost at the client's
 * deadline while frozen, or when a restarted server lost the data; reconnected with the next
 * session.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type HealthEvent, LeaseLostError, SessionLostError } from '../../src/index.js';
import { followHealth } from '../support/health-events.js';
import { localRedisAvailable, type RedisServer, startRedis } from '../support/redis-server.js';
import { serverUnavailable } from '../support/servers.js';

const available = localRedisAvailable();
if (!available) serverUnavailable('Redis health tests', 'they freeze and kill their own server: install the Debian "redis-server" package');

let server: RedisServer;
const coords: Coordinator[] = [];
async function open(ttl: number): Promise<Coordinator> {
  const coord = await connect(server.url({ ttl, prefix: `health-${process.pid}` }));
  coords.push(coord);
  return coord;
}
beforeAll(async () => {
  server = (await startRedis({ needControl: true }))!;
}, 60_000);
afterAll(async () => {
  await Promise.all(coords.map((coord) => coord.close()));
  await server?.stop();
});

describe.skipIf(!available)('Redis health', () => {
  it('goes out of contact when the server freezes, with the time left, and back to connected when it thaws', async () => {
    const ttl = 6;
    const coord = await open(ttl);
    const lease = await coord.mutex('health/freeze').acquire();
    expect(coord.health()).toMatchObject({ backend: 'redis', state: 'connected', ttlMs: ttl * 1000 });
    const health = followHealth(coord);
    const frozenAt = Date.now();
    server.pause();
    let outOfContact: HealthEvent;
    try {
      // A renewal goes out every TTL/3 and is given up after an attempt's deadline (TTL/4, 2 s at most).
      outOfContact = await health.next('out-of-contact', ttl * 1000);
    } finally {
      server.resume();
    }
    expect(outOfContact.at - frozenAt).toBeLessThan(ttl * 1000);
    expect(outOfContact.lossInMs).toBeGreaterThan(0);
    expect(outOfContact.lossInMs).toBeLessThanOrEqual(ttl * 1000);
    const back = await health.next('reconnected', 15_000).catch(() => undefined);
    health.stop();
    // Thawed within the TTL the hold is kept; on a slow machine the thaw can come too late,
    // and then the loss must have been reported.
    if (back) expect(lease.signal.aborted).toBe(false);
    else expect(health.events.map((e) => e.type)).toContain('lost');
    await lease.release();
  });

  it('reports the loss at the TTL while frozen, and reconnects with the next session after the thaw', async () => {
    const ttl = 2;
    const coord = await open(ttl);
    const lease = await coord.mutex('health/lost').acquire();
    const health = followHealth(coord);
    const frozenAt = Date.now();
    server.pause();
    let outOfContact: HealthEvent;
    let lost: HealthEvent;
    try {
      outOfContact = await health.next('out-of-contact', ttl * 1000 + 2000);
      lost = await health.next('lost', ttl * 1000 + 3000);
    } finally {
      server.resume();
    }
    expect(outOfContact.at).toBeLessThan(lost.at);
    // At the client's deadline: last answered renewal + TTL, so within the TTL of the freeze.
    expect(lost.at - frozenAt).toBeLessThan(ttl * 1000 + 1000);
    expect(lost.error).toBeInstanceOf(SessionLostError);
    expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
    expect(coord.health().state).toBe('lost');
    const again = await coord.mutex('health/lost').acquire({ timeoutMs: 10_000 });
    await health.next('reconnected', 5000);
    health.stop();
    expect(coord.health()).toMatchObject({ state: 'connected', session: expect.any(String) });
    await again.release();
  });

  it('goes out of contact at once when the server is killed, and lost when it comes back without the data', async () => {
    const ttl = 10;
    const coord = await open(ttl);
    const lease = await coord.mutex('health/killed').acquire();
    const health = followHealth(coord);
    const killedAt = Date.now();
    await server.kill();
    // The broken link says so at once, well before a renewal (every TTL/3) would fail.
    const outOfContact = await health.next('out-of-contact', ttl * 1000);
    expect(outOfContact.at - killedAt).toBeLessThan(ttl * 1000 / 3);
    expect(outOfContact.lossInMs).toBeGreaterThan(ttl * 1000 / 2);
    expect(coord.health().state).toBe('out-of-contact');
    // No persistence: the restarted server has none of Baton's keys, so the session is gone.
    await server.start();
    const lost = await health.next('lost', ttl * 1000);
    expect(lost.error).toBeInstanceOf(SessionLostError);
    expect(String((lost.error as Error).message)).toMatch(/lost Baton's data/);
    expect(lease.signal.aborted).toBe(true);
    const again = await coord.mutex('health/killed').acquire({ timeoutMs: 10_000 });
    await health.next('reconnected', 5000);
    health.stop();
    expect(health.events.map((e) => e.type)).toEqual(['out-of-contact', 'lost', 'reconnected']);
    await again.release();
  });
});

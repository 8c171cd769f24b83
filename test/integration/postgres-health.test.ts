/**
 * What a PostgreSQL coordinator tells about its connection, against a real server it freezes
 * (SIGSTOP) and thaws: out of contact once a renewal goes unanswered, with the time left; lost at
 * the client's deadline while frozen; reconnected with the next call after the thaw.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type HealthEvent, LeaseLostError } from '../../src/index.js';
import { localPostgresAvailable, type PostgresServer, startPostgres } from '../support/postgres-server.js';
import { followHealth } from '../support/health-events.js';
import { serverUnavailable } from '../support/servers.js';

const available = localPostgresAvailable();
if (!available) serverUnavailable('PostgreSQL health tests', 'they freeze their own server: install the Debian "postgresql-15" package');

let server: PostgresServer;
const coords: Coordinator[] = [];
beforeAll(async () => {
  server = (await startPostgres({ needControl: true }))!;
}, 120_000);
afterAll(async () => {
  await Promise.all(coords.map((coord) => coord.close()));
  await server?.stop();
});

describe.skipIf(!available)('PostgreSQL health', () => {
  it('goes out of contact when the server freezes, then lost at the TTL, and reconnects after the thaw', async () => {
    const ttl = 3;
    const coord = await connect(server.url({ params: { schema: `health_${process.pid}`, ttl } }));
    coords.push(coord);
    const lease = await coord.mutex('health/freeze').acquire();
    expect(coord.health()).toMatchObject({ backend: 'postgres', state: 'connected', ttlMs: ttl * 1000 });
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
    expect(outOfContact.at - frozenAt).toBeLessThan(ttl * 1000);
    expect(outOfContact.lossInMs).toBeGreaterThan(0);
    expect(lost.at - frozenAt).toBeLessThan(ttl * 1000 + 1000);
    expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
    const again = await coord.mutex('health/freeze').acquire({ timeoutMs: 15_000 });
    await health.next('reconnected', 5000);
    health.stop();
    expect(coord.health().state).toBe('connected');
    await again.release();
  });
});

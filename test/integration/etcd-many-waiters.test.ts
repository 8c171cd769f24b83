/**
 * Many waiters over many coordinators in one process, on a 10 s lease TTL: every session kept,
 * every waiter served, in order. A process that keeps its leases alive must not lose one because
 * it has many waiters. It did: each enqueue made etcd sort the whole name twice (ranges sorted by
 * creation), so with 100 coordinators entering at once answers came later than an attempt's
 * deadline, every late answer dropped its coordinator's connection (the keep-alive and watch
 * streams with it), each view re-read the whole name, and keep-alives went unanswered until
 * leases were declared lost; a process busy past a deadline fired it before reading the answers
 * already there (see test/unit/etcd-busy-client.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/contract.js';
import { type Coordinator, connect, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { untilQueue } from '../interop/peers.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { followHealth, type HealthFollower } from '../support/health-events.js';

const COORDINATORS = 100;
const WAITERS = 2000;
const TTL_SECONDS = 10;

const wanted = localEtcdAvailable() || !!process.env.BATON_TEST_ETCD_ENDPOINTS || process.env.CI === 'true';

describe.skipIf(!wanted)('etcd: many waiters over many coordinators', () => {
  let servers: EtcdServers | undefined;
  beforeAll(async () => {
    servers = await startEtcd();
  }, 120_000);
  afterAll(() => servers?.stop());

  it(`${WAITERS} waiters over ${COORDINATORS} coordinators with a ${TTL_SECONDS} s TTL: no session lost, every waiter served in order`, async () => {
    const url = servers!.url({ ttl: TTL_SECONDS });
    const coords: Coordinator[] = [];
    const health: HealthFollower[] = [];
    try {
      for (let i = 0; i < COORDINATORS + 1; i++) {
        const coord = await connect(url);
        coords.push(coord);
        health.push(followHealth(coord));
      }
      const [holderCoord, ...waiterCoords] = coords as [Coordinator, ...Coordinator[]];
      const name = `many/waiters-${Math.random().toString(36).slice(2, 8)}`;
      const holder = await holderCoord.mutex(name).acquire();
      const tokens: bigint[] = [];
      const failures: string[] = [];
      let failed!: () => void;
      const firstFailure = new Promise<void>((resolve) => (failed = resolve));
      const served = [];
      for (let i = 0; i < WAITERS; i++) {
        const acquire = (waiterCoords[i % COORDINATORS] as Coordinator).mutex(name).acquire();
        served.push(
          acquire.then(
            async (lease: Lease) => {
              tokens.push(lease.token);
              await lease.release();
            },
            (error: Error) => {
              failures.push(error.message);
              failed();
            },
          ),
        );
      }
      // Every waiter in line, or one has failed (a lost session: its keys go, the rest wait).
      const queued = untilQueue(backendOf(holderCoord) as Backend, name, (entries) => entries.length === WAITERS + 1);
      await Promise.race([queued, firstFailure]);
      await holder.release();
      await Promise.all(served);
      const lost = health.flatMap((follower) => follower.events.filter((event) => event.type === 'lost'));
      expect(failures.slice(0, 1), `${failures.length} acquires failed`).toEqual([]);
      expect(lost, 'sessions lost').toEqual([]);
      expect(tokens).toHaveLength(WAITERS);
      expect(tokens.every((token, k) => k === 0 || token > (tokens[k - 1] as bigint)), 'granted in creation order').toBe(true);
    } finally {
      for (const follower of health) follower.stop();
      await Promise.all(coords.map((coord) => coord.close()));
    }
  }, 300_000);
});

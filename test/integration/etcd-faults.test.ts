/**
 * Loss shown with real faults on real etcd: a revoked lease, a silent server (client-side
 * deadline), a holder process frozen longer than its TTL (SIGSTOP) and overtaken, and the leader
 * of a 3-member cluster killed while clients hold and wait.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Coordinator, connect, type Lease, LeaseLostError, SessionLostError } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { until } from '../support/until.js';
import { Procs } from './cli-harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST_ETCD = `${ROOT}/dist/backends/etcd/index.js`;
const wanted = localEtcdAvailable() || process.env.CI === 'true';

let servers: EtcdServers | undefined;
const coords: Coordinator[] = [];
const procs = new Procs();

beforeAll(async () => {
  servers = await startEtcd({ needControl: true });
}, 120_000);
afterEach(async () => {
  await procs.cleanup();
});
afterAll(async () => {
  await Promise.all(coords.map((coord) => coord.close()));
  await servers?.stop();
});

async function open(url: string): Promise<Coordinator> {
  const coord = await connect(url);
  coords.push(coord);
  return coord;
}

const unique = (label: string) => `faults/${label}-${randomUUID().slice(0, 8)}`;

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

function queuedOnce() {
  let resolve!: () => void;
  const reached = new Promise<void>((r) => (resolve = r));
  return { reached, onQueued: () => resolve() };
}

/** A holder in its own process, importing the built package: prints JSON lines, obeys stdin. */
const HOLDER = `
import { createInterface } from 'node:readline';
const { connect } = await import(${JSON.stringify(`${ROOT}/dist/index.js`)});
const coord = await connect(process.env.HOLDER_URL);
const lease = await coord.mutex(process.env.HOLDER_NAME).acquire();
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
lease.signal.addEventListener('abort', () => say({ lost: lease.signal.reason?.name ?? 'unknown' }));
say({ held: lease.token.toString(), key: lease.key });
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'write') say({ wrote: await lease.guardedWrite([{ put: process.env.HOLDER_DATA, value: 'from the paused holder' }]) });
}
`;

describe.skipIf(!wanted)('etcd loss with real faults', () => {
  beforeAll(() => {
    if (!existsSync(DIST_ETCD)) execFileSync(process.execPath, [`${ROOT}/node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  }, 120_000);

  it('etcdctl lease revoke aborts lease.signal within one second, and later work gets a new session', async () => {
    const coord = await open(servers!.url({ ttl: 30 }));
    const name = unique('revoke');
    const lease = await coord.mutex(name).acquire();
    const leaseHex = lease.key.slice(name.length + 1);
    const revoked = await servers!.etcdctl(['lease', 'revoke', leaseHex]);
    expect(revoked.stderr).toBe('');
    const revokedAt = performance.now();
    const reason = await aborted(lease.signal);
    expect(reason).toBeInstanceOf(LeaseLostError);
    expect(performance.now() - revokedAt).toBeLessThan(1000);
    const session = await backendOf(coord).session(AbortSignal.timeout(10_000));
    expect(session.id).not.toBe(leaseHex);
    const again = await coord.mutex(name).acquire({ timeoutMs: 5000 });
    expect(again.token > lease.token).toBe(true);
    await again.release();
  });

  it('a silent server ends the session by the client-side deadline (last answer + TTL), not 2 x TTL', async () => {
    const ttl = 2;
    const coord = await open(servers!.url({ ttl }));
    const session = await backendOf(coord).session(AbortSignal.timeout(10_000));
    const lease = await coord.mutex(unique('silent')).acquire();
    servers!.pauseMember(0);
    const pausedAt = performance.now();
    try {
      const reason = await aborted(session.signal);
      const after = performance.now() - pausedAt;
      expect(reason).toBeInstanceOf(SessionLostError);
      // Keep-alives go out every TTL/3, so the last answer came at most TTL/3 before the pause.
      // By the deadline (with slack for a busy machine), well before etcd3's own 2 x TTL.
      expect(after).toBeLessThanOrEqual(ttl * 1000 + 1000);
      expect(after).toBeGreaterThanOrEqual(((2 * ttl) / 3) * 1000 - 250);
      expect(await aborted(lease.signal)).toBeInstanceOf(LeaseLostError);
    } finally {
      servers!.resumeMember(0);
    }
  });

  it('a holder frozen longer than its TTL is overtaken; on SIGCONT it sees its loss and its guarded write is rejected', async () => {
    const name = unique('sigstop');
    const dataKey = `${name}-data`;
    const holder = procs.run(
      process.execPath,
      ['--input-type=module', '-e', HOLDER],
      { ...process.env, HOLDER_URL: servers!.url({ ttl: 2 }), HOLDER_NAME: name, HOLDER_DATA: dataKey },
      'paused holder',
    );
    const held = JSON.parse((await holder.waitFor('stdout', /^\{"held".*$/m))[0]) as { held: string; key: string };
    const coord = await open(servers!.url({ ttl: 10 }));
    const queued = queuedOnce();
    const waiting = coord.mutex(name).acquire({ onQueued: queued.onQueued });
    await queued.reached;
    holder.signal('SIGSTOP');
    let successor: Lease;
    try {
      successor = await waiting;
      expect(successor.token > BigInt(held.held)).toBe(true);
      expect(await successor.guardedWrite([{ put: dataKey, value: 'from the successor' }])).toBe(true);
    } finally {
      holder.signal('SIGCONT');
    }
    const resumedAt = performance.now();
    await holder.waitFor('stdout', /"lost":"LeaseLostError"/);
    // Its timers run first thing on resuming: the loss is known before any answer could arrive.
    expect(performance.now() - resumedAt).toBeLessThan(3000);
    holder.send('write');
    await holder.waitFor('stdout', /"wrote":(true|false)/);
    expect(holder.output.stdout).toContain('{"wrote":false}');
    expect((await backendOf(coord).get(dataKey))?.value).toBe('from the successor');
    await successor.release();
  });
});

describe.skipIf(!wanted)('etcd: a 3-member cluster with faults', () => {
  let cluster: EtcdServers | undefined;
  beforeAll(async () => {
    cluster = await startEtcd({ members: 3, needControl: true });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('a frozen follower (SIGSTOP) costs a release under 1 s and no acquire its timeout: others serve', async () => {
    // Every client prefers the follower (listed first), as one that last answered from it would.
    const leader = await cluster!.leader();
    const follower = leader === 0 ? 1 : 0;
    const order = [follower, ...[0, 1, 2].filter((i) => i !== follower)];
    const url = `etcd://${order.map((i) => cluster!.endpoints[i]).join(',')}?ttl=10`;
    const [holderCoord, waiterCoord, laterCoord] = (await Promise.all([0, 1, 2].map(() => open(url)))) as [Coordinator, Coordinator, Coordinator];
    const name = unique('frozen-follower');
    const first = await holderCoord.mutex(name).acquire();
    const waiting = waiterCoord.mutex(name).acquire({ timeoutMs: 5000 });
    await until(async () => (await backendOf(holderCoord).list(name)).length === 2, 'the waiter queued', 5000);
    cluster!.pauseMember(follower);
    try {
      let started = performance.now();
      await first.release();
      const releaseMs = performance.now() - started;
      expect(releaseMs).toBeLessThan(1000);
      const second = await waiting;
      // More cycles on fresh names: every release and acquire goes past the frozen member.
      const slow: string[] = [];
      for (let i = 0; i < 5; i++) {
        started = performance.now();
        const lease = await laterCoord.mutex(unique('frozen-cycle')).acquire({ timeoutMs: 2000 });
        const acquireMs = performance.now() - started;
        started = performance.now();
        await lease.release();
        const cycleReleaseMs = performance.now() - started;
        if (acquireMs > 2000 + 250 || cycleReleaseMs > 1000) slow.push(`cycle ${i}: acquire ${acquireMs.toFixed(0)} ms, release ${cycleReleaseMs.toFixed(0)} ms`);
      }
      expect(slow).toEqual([]);
      started = performance.now();
      await second.release();
      expect(performance.now() - started).toBeLessThan(1000);
    } finally {
      cluster!.resumeMember(follower);
    }
  }, 60_000);

  it('keeps mutual exclusion while clients hold and wait, and serves every waiter', async () => {
    const name = unique('leader-kill');
    const clients = await Promise.all([0, 1, 2, 3].map(() => open(cluster!.url({ ttl: 10 }))));
    const rounds = 3;
    const holders = new Set<Lease>();
    let acquisitions = 0;
    let killed = -1;
    const violations: string[] = [];
    await Promise.all(
      clients.map(async (coord) => {
        for (let i = 0; i < rounds; i++) {
          const lease = await coord.mutex(name).acquire({ timeoutMs: 60_000 });
          for (const other of holders) if (!other.signal.aborted) violations.push(`${lease.key} entered while ${other.key} held`);
          holders.add(lease);
          acquisitions++;
          if (acquisitions === 2) {
            // Everyone else is queued behind this holder by now or soon: kill the raft leader under them.
            killed = await cluster!.leader();
            await cluster!.stopMember(killed, true);
          }
          await new Promise((r) => setImmediate(r));
          holders.delete(lease);
          await lease.release();
        }
      }),
    );
    expect(killed).toBeGreaterThanOrEqual(0);
    expect(violations).toEqual([]);
    expect(acquisitions).toBe(clients.length * rounds);
  }, 90_000);
});

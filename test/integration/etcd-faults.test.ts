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
import { EtcdBackend } from '../../src/backends/etcd/index.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
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

  it('a watch the server cancels (as for a compacted revision) starts over from now and misses no release', async () => {
    const name = unique('restart');
    const [waiterCoord, holderCoord] = [await open(servers!.url({ ttl: 10 })), await open(servers!.url({ ttl: 10 }))];
    const holder = await holderCoord.mutex(name).acquire();
    const queued = queuedOnce();
    const waiting = waiterCoord.mutex(name).acquire({ onQueued: queued.onQueued, timeoutMs: 10_000 });
    await queued.reached;
    // The waiter's watch on the name, as etcd3 holds it; the server cancelling it is an 'error'.
    const manager = (backendOf(waiterCoord) as EtcdBackend).client as unknown as { watchManager: { watchers: Array<{ request: { key: Buffer }; emit(e: string, x: unknown): void }> } };
    const watch = manager.watchManager.watchers.find((w) => w.request.key.toString() === `${name}/`);
    expect(watch).toBeDefined();
    watch!.emit('error', new Error('etcdserver: mvcc: required revision has been compacted'));
    // The release happens while the view starts over: the fresh read must show it.
    await holder.release();
    const lease = await waiting;
    expect(lease.token > holder.token).toBe(true);
    expect(lease.signal.aborted).toBe(false);
    await lease.release();
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

describe.skipIf(!wanted)('etcd: leader of a 3-member cluster killed', () => {
  let cluster: EtcdServers | undefined;
  beforeAll(async () => {
    cluster = await startEtcd({ members: 3, needControl: true });
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

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

/**
 * Interop with the real etcdctl (Go's client/v3/concurrency underneath): locks exclude each other
 * both ways, and elections see the same leader both ways.
 */
import { randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Coordinator, connect } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { ETCDCTL_BINARY, type EtcdServers, etcdctlAvailable, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { keysUntil } from '../support/keys-until.js';
import { serverUnavailable } from '../support/servers.js';
import { Procs } from './cli-harness.js';

const wanted = localEtcdAvailable() || !!process.env.BATON_TEST_ETCD_ENDPOINTS || process.env.CI === 'true';
let servers: EtcdServers | undefined;
const coords: Coordinator[] = [];
const procs = new Procs();

beforeAll(async () => {
  if (!etcdctlAvailable()) {
    serverUnavailable('etcdctl', `install the Debian "etcd-client" package (${ETCDCTL_BINARY})`);
    return;
  }
  servers = await startEtcd();
}, 120_000);
afterEach(async () => {
  await procs.cleanup();
});
afterAll(async () => {
  await Promise.all(coords.map((coord) => coord.close()));
  await servers?.stop();
});

async function open(): Promise<Coordinator> {
  const coord = await connect(servers!.url({ ttl: 5 }));
  coords.push(coord);
  return coord;
}

const etcdctlEnv = () => ({ ...process.env, ETCDCTL_API: '3' });
const etcdctl = (args: string[], label?: string) => procs.run(ETCDCTL_BINARY, [...servers!.etcdctlArgs(), ...args], etcdctlEnv(), label);
const unique = (label: string) => `interop/${label}-${randomUUID().slice(0, 8)}`;

/** Whether `promise` is still pending after the callbacks already queued have run. */
async function pending(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  return (await Promise.race([promise.then(() => 'settled', () => 'settled'), new Promise((r) => setImmediate(() => r(marker)))])) === marker;
}

describe.skipIf(!wanted)('etcd interop with etcdctl', () => {
  it('etcdctl lock holds while its command runs; a Baton acquire waits until the command ends', async () => {
    const name = unique('lock-etcdctl-first');
    const [coord] = [await open()];
    // The command prints its pid and then sleeps; `exec` makes that pid the sleep itself.
    const holder = etcdctl(['lock', name, '--', 'sh', '-c', 'echo "pid $$"; exec sleep 60']);
    const pid = Number((await holder.waitFor('stdout', /pid (\d+)/))[1]);
    const keys = await keysUntil(coord, name, (listed) => listed.length === 1);
    // etcdctl wrote the Go layout: <name>/<lease id in hex>.
    expect(keys[0]).toMatch(new RegExp(`^${name}/[0-9a-f]+$`));
    const events: string[] = [];
    let queued!: () => void;
    const isQueued = new Promise<void>((resolve) => (queued = resolve));
    const acquiring = coord
      .mutex(name)
      .acquire({ onQueued: () => queued() })
      .then((lease) => (events.push('baton holds'), lease));
    await isQueued;
    expect(await pending(acquiring)).toBe(true);
    events.push('command ends');
    process.kill(pid, 'SIGTERM');
    const lease = await acquiring;
    expect(events).toEqual(['command ends', 'baton holds']);
    await holder.exited;
    await lease.release();
  });

  it('Baton holds; etcdctl lock waits until Baton releases', async () => {
    const name = unique('lock-baton-first');
    const [coord, observer] = [await open(), await open()];
    const lease = await coord.mutex(name).acquire();
    expect(lease.key).toMatch(new RegExp(`^${name}/[0-9a-f]+$`));
    const waiter = etcdctl(['lock', name, '--', 'sh', '-c', 'echo "etcdctl ran with $ETCD_LOCK_KEY at $ETCD_LOCK_REV"']);
    // etcdctl is queued once its key is there, behind Baton's.
    const keys = await keysUntil(observer, name, (listed) => listed.length === 2);
    expect(keys[0]).toBe(lease.key);
    expect(waiter.output.stdout).toBe('');
    expect(waiter.done).toBe(false);
    await lease.release();
    const [, key, rev] = await waiter.waitFor('stdout', /etcdctl ran with (\S+) at (\d+)/);
    expect(await waiter.exited).toBe(0);
    expect(key).toBe(keys[1]);
    expect(BigInt(rev!) > lease.token).toBe(true);
  });

  it('a Go-style client that unlocks and locks again under the same key name does not strand a waiter', async () => {
    // Go's Mutex names its key after the session's lease, so a long-lived Go session re-locking
    // re-creates the same key name, then queued behind the waiter. A waiter that looks for the
    // name only (not its creation revision) would wait for a key that waits for it.
    const name = unique('reused-key');
    const coord = await open();
    const backend = backendOf(coord);
    const raw = new Etcd3({ hosts: servers!.endpoints });
    try {
      const leaseId = String((await raw.leaseClient.leaseGrant({ TTL: 30 })).ID);
      const goKey = `${name}/${BigInt(leaseId).toString(16)}`;
      await raw.kv.put({ key: Buffer.from(goKey), value: Buffer.from(''), lease: leaseId });
      const session = await backend.session(AbortSignal.timeout(10_000));
      const entered = await session.enqueue(name, 'lock', '', AbortSignal.timeout(10_000));
      const blocker = entered.entries[0]!;
      expect(blocker.key).toBe(goKey);
      // Go unlocks and locks again: same name, new creation revision, now behind the waiter.
      await raw.kv.deleteRange({ key: Buffer.from(goKey) });
      await raw.kv.put({ key: Buffer.from(goKey), value: Buffer.from(''), lease: leaseId });
      const signal = AbortSignal.timeout(5000);
      for (;;) {
        const watched = await backend.watchPrefix(name, signal);
        const again = watched.current.find((entry) => entry.key === goKey);
        if (again && again.revision !== blocker.revision) break;
        await watched.changed;
      }
      // The key the waiter was blocked by is gone, although a key of that name exists again.
      await backend.waitForBlocker(blocker.key, blocker.revision, signal);
      const listing = await backend.list(name);
      expect(listing.map((entry) => entry.key)).toEqual([entered.key, goKey]);
      entered.own.dispose();
      await session.remove(entered.key, entered.revision);
      await raw.leaseClient.leaseRevoke({ ID: leaseId });
    } finally {
      raw.close();
    }
  });

  it('etcdctl elect leads and Baton reports its value; Baton campaigns behind it and wins when etcdctl stops', async () => {
    const name = unique('elect');
    const coord = await open();
    const elect = etcdctl(['elect', name, 'go-proposal']);
    await elect.waitFor('stdout', /go-proposal/);
    const leader = await coord.election(name).leader();
    expect(leader?.value).toBe('go-proposal');
    expect(leader?.key).toMatch(new RegExp(`^${name}/[0-9a-f]+$`));
    let queued!: () => void;
    const isQueued = new Promise<void>((resolve) => (queued = resolve));
    const campaign = coord.election(name).campaign('baton-proposal', { onQueued: () => queued() });
    await isQueued;
    expect(await pending(campaign)).toBe(true);
    elect.signal('SIGINT'); // etcdctl resigns on interrupt
    const leadership = await campaign;
    expect(leadership.token > leader!.token).toBe(true);
    expect((await coord.election(name).leader())?.value).toBe('baton-proposal');
    await leadership.resign();
  });

  it('etcdctl elect -l observes a Baton leader and its proclamations', async () => {
    const name = unique('observe');
    const coord = await open();
    const leadership = await coord.election(name).campaign('first value');
    const observer = etcdctl(['elect', '-l', name]);
    await observer.waitFor('stdout', new RegExp(`${leadership.key}\\s+first value`));
    await leadership.proclaim('second value');
    await observer.waitFor('stdout', /second value/);
    await leadership.resign();
  });
});

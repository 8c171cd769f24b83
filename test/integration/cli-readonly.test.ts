/**
 * The read commands (`baton status`, `baton leader`, `baton observe`) never write, watched on the
 * backend itself: on etcd the store's revision does not move and no lease is granted; on
 * ZooKeeper no node appears (not even the chroot) and no ephemeral; and on memory the same calls
 * through the API open no session and write nothing.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import zookeeper from 'node-zookeeper-client';
import { connect } from '../../src/index.js';
import { backendOf, type MemoryBackend } from '../../src/testing.js';
import { ensureBuilt, Procs } from './cli-harness.js';
import { startEtcd } from '../support/etcd-server.js';
import { startZooKeeper } from '../support/zookeeper-server.js';

ensureBuilt();
const etcd = await startEtcd();
const zk = await startZooKeeper(1);
const procs = new Procs();
afterEach(async () => {
  await procs.cleanup();
});
afterAll(async () => {
  await Promise.all([etcd?.stop(), zk?.stop()]);
});

/** Runs every read command on `name` against `url`: status and leader to completion, observe until its first line. */
async function readAll(url: string, name: string): Promise<void> {
  const env = { ...process.env, BATON_BACKEND: url };
  for (const args of [['status', name], ['status', name, '--json'], ['leader', name], ['leader', name, '--json']]) {
    const proc = procs.baton(args, env);
    expect(await proc.exited, proc.describe()).toBe(0);
  }
  const observe = procs.baton(['observe', name, '--json'], env);
  await observe.waitFor('stdout', /"leader":null/);
  observe.signal('SIGINT');
  expect(await observe.exited, observe.describe()).toBe(0);
}

describe.skipIf(!etcd)('read commands on etcd', () => {
  it('leave the revision where it was and grant no lease', async () => {
    const server = etcd!;
    const revision = async () => {
      const result = await server.etcdctl(['endpoint', 'status', '-w', 'json']);
      return (JSON.parse(result.stdout) as Array<{ Status: { header: { revision: number } } }>)[0]!.Status.header.revision;
    };
    const leases = async () => (await server.etcdctl(['lease', 'list'])).stdout.trim();
    const before = { revision: await revision(), leases: await leases() };
    await readAll(server.url({ namespace: `readonly-${process.pid}/` }), 'jobs/nightly');
    expect({ revision: await revision(), leases: await leases() }).toEqual(before);
  });
});

describe.skipIf(!zk)('read commands on ZooKeeper', () => {
  it('create no node, not even the chroot, and no ephemeral', async () => {
    const server = zk!;
    const chroot = `/readonly-${process.pid}`;
    const ephemerals = async () => /zk_ephemerals_count\s+(\d+)/.exec((await server.fourLetter(0, 'mntr')) ?? '')?.[1];
    const nodes = async () => /zk_znode_count\s+(\d+)/.exec((await server.fourLetter(0, 'mntr')) ?? '')?.[1];
    const before = { ephemerals: await ephemerals(), nodes: await nodes() };
    expect(before.nodes).toBeDefined();
    await readAll(server.url({ chroot }), 'jobs/nightly');
    expect({ ephemerals: await ephemerals(), nodes: await nodes() }).toEqual(before);
    const client = zookeeper.createClient(server.endpoints.join(','), { sessionTimeout: 2000 });
    const exists = await new Promise<boolean>((resolve, reject) => {
      client.once('connected', () => client.exists(chroot, (error, stat) => (error ? reject(error) : resolve(!!stat))));
      client.connect();
    });
    client.close();
    expect(exists).toBe(false);
  });
});

describe('read calls on memory', () => {
  it('open no session and write nothing', async () => {
    const coord = await connect('memory://');
    const backend = backendOf(coord) as MemoryBackend;
    const before = backend.stats().operations;
    const name = `readonly/${process.pid}`;
    expect(await coord.election(name).leader()).toBeUndefined();
    await coord.mutex(name).status();
    await coord.semaphore(name, { permits: 2 }).status();
    await coord.readWriteLock(name).status();
    const stop = new AbortController();
    for await (const leader of coord.election(name).observe({ signal: stop.signal })) {
      expect(leader).toBeUndefined();
      stop.abort();
    }
    const writes = Object.entries(backend.stats().operations).filter(
      ([operation, count]) => !/^(list|get|watch|scan|waitFor|follow|read)/i.test(operation) && count !== (before[operation] ?? 0),
    );
    expect(writes).toEqual([]);
    expect(coord.health().session).toBeUndefined();
    await coord.close();
  });
});

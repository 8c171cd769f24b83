/**
 * The read commands (`baton status`, `baton leader`, `baton observe`) never write, watched on the
 * backend itself: on etcd the store's revision does not move and no lease is granted; on
 * ZooKeeper no node appears (not even the chroot) and no ephemeral; on PostgreSQL no schema is
 * created, no session opened (the sequences do not move) and no row changes, not even an expired
 * one that a writing read would sweep; on Redis no key appears (not the epoch key, not a session)
 * and every key's contents stay as they were (DUMP of each), not even an expired session's entry
 * is swept; and on memory the same calls through the API open no session and write nothing.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import zookeeper from 'node-zookeeper-client';
import { ConfigError, connect } from '../../src/index.js';
import { backendOf, type MemoryBackend } from '../../src/testing.js';
import { ensureBuilt, Procs } from './cli-harness.js';
import { startEtcd } from '../support/etcd-server.js';
import { startZooKeeper } from '../support/zookeeper-server.js';
import { startPostgres } from '../support/postgres-server.js';
import { startRedis } from '../support/redis-server.js';
import type { RedisBackend } from '../../src/backends/redis/backend.js';

ensureBuilt();
const etcd = await startEtcd();
const zk = await startZooKeeper(1);
const postgres = await startPostgres();
const redis = await startRedis();
const procs = new Procs();
afterEach(async () => {
  await procs.cleanup();
});
afterAll(async () => {
  await Promise.all([etcd?.stop(), zk?.stop(), postgres?.stop(), redis?.stop()]);
});

/**
 * Runs every read command on `name` against `url`: status and leader to completion, observe until
 * its first line. Resolves to the output of `status NAME`.
 */
async function readAll(url: string, name: string, leader: RegExp = /"leader":null/): Promise<string> {
  const env = { ...process.env, BATON_BACKEND: url };
  let status = '';
  for (const args of [['status', name], ['status', name, '--json'], ['leader', name], ['leader', name, '--json']]) {
    const proc = procs.baton(args, env);
    expect(await proc.exited, proc.describe()).toBe(0);
    if (args.length === 2 && args[0] === 'status') status = proc.output.stdout;
  }
  const observe = procs.baton(['observe', name, '--json'], env);
  await observe.waitFor('stdout', leader);
  observe.signal('SIGINT');
  expect(await observe.exited, observe.describe()).toBe(0);
  return status;
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

describe.skipIf(!postgres)('read commands on PostgreSQL', () => {
  it('create no schema where there is none, and report the name unused', async () => {
    const server = postgres!;
    const schema = `readonly_absent_${process.pid}`;
    const status = await readAll(server.url({ params: { schema } }), 'jobs/nightly');
    expect(status).toMatch(/nobody holds or waits for "jobs\/nightly"/);
    // The same through the API: reads find nothing, and joining a queue is refused at once.
    const reader = await connect(server.url({ params: { schema, readonly: 'true' } }));
    try {
      expect(await reader.election('jobs/nightly').leader()).toBeUndefined();
      await expect(reader.mutex('jobs/nightly').acquire()).rejects.toThrow(ConfigError);
    } finally {
      await reader.close();
    }
    expect(await server.sql('SELECT nspname FROM pg_namespace WHERE nspname = $1', [schema])).toEqual([]);
  }, 120_000);

  it('open no session and change no row, not even a key of an expired session', async () => {
    const server = postgres!;
    const schema = `readonly_used_${process.pid}`;
    // Holders whose sessions will not renew during the test (TTL an hour: a renewal every 20
    // minutes), one session each: the second one's is then made to look expired.
    const writer = await connect(server.url({ params: { schema, ttl: 3600 } }));
    const crashed = await connect(server.url({ params: { schema, ttl: 3600 } }));
    try {
      const election = await writer.election('jobs/nightly').campaign('node-a');
      const stale = await crashed.mutex('jobs/stale').acquire();
      // An operator's view of a session past its expiry that no one has swept yet: a read that
      // writes would delete its key.
      await server.sql(`UPDATE ${schema}.sessions SET expires_at = now() - interval '1 second' WHERE id = (SELECT session_id FROM ${schema}.keys WHERE key = $1)`, [stale.key]);
      const state = async () => ({
        sessions: await server.sql(`SELECT id::text, expires_at::text FROM ${schema}.sessions ORDER BY id`),
        keys: await server.sql(`SELECT key, revision::text, value, session_id::text FROM ${schema}.keys ORDER BY key`),
        sequences: await server.sql(
          `SELECT sequencename, last_value::text FROM pg_sequences WHERE schemaname = $1 ORDER BY sequencename`,
          [schema],
        ),
        relations: await server.sql(`SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = $1 ORDER BY relname`, [schema]),
      });
      const before = await state();
      expect(before.keys.length).toBe(2);
      const url = server.url({ params: { schema } });
      const status = await readAll(url, 'jobs/nightly', /"leader":\{[^}]*"value":"node-a"/);
      expect(status).toMatch(/node-a/);
      await readAll(url, 'jobs/stale');
      expect(await state()).toEqual(before);
      await election.resign();
    } finally {
      await Promise.all([writer.close(), crashed.close()]);
    }
  }, 120_000);
});

describe.skipIf(!redis)('read commands on Redis', () => {
  /**
   * Every key of `prefix` with its serialized contents (DUMP) and whether it expires, and the
   * server's count of writes since the last save (the server is this file's own: nothing else
   * writes to it meanwhile; a session TTL of an hour means no renewal either).
   */
  async function snapshot(prefix: string) {
    const client = await redis!.raw();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, page] = await client.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 1000);
      keys.push(...page);
      cursor = next;
    } while (cursor !== '0');
    keys.sort();
    const contents: Record<string, { dump: string | undefined; expires: boolean }> = {};
    for (const key of keys) {
      const [dump, pttl] = await Promise.all([client.dumpBuffer(key), client.pttl(key)]);
      contents[key] = { dump: dump?.toString('base64'), expires: pttl >= 0 };
    }
    const writes = /rdb_changes_since_last_save:(\d+)/.exec(await client.info('persistence'))?.[1];
    return { contents, writes: redis!.controllable ? writes : 'not counted on a shared server' };
  }

  it('write no key where there is none, and report the name unused', async () => {
    const prefix = `ro-absent-${process.pid}:`;
    const status = await readAll(`${redis!.url({ prefix })}`, 'jobs/nightly');
    expect(status).toMatch(/nobody holds or waits for "jobs\/nightly"/);
    // The same through the API: reads find nothing, and joining a queue is refused at once.
    const reader = await connect({ backend: 'redis', host: redis!.host, port: redis!.port, prefix, readOnly: true });
    try {
      expect(await reader.election('jobs/nightly').leader()).toBeUndefined();
      await expect(reader.mutex('jobs/nightly').acquire()).rejects.toThrow(ConfigError);
      expect(reader.health().session).toBeUndefined();
    } finally {
      await reader.close();
    }
    expect(Object.keys((await snapshot(prefix)).contents)).toEqual([]);
  }, 120_000);

  it('open no session and change no key, not even an entry of an expired session', async () => {
    const prefix = `ro-used-${process.pid}:`;
    const url = redis!.url({ prefix, ttl: 3600 });
    const writer = await connect(url);
    const crashed = await connect(url);
    try {
      const election = await writer.election('jobs/nightly').campaign('node-a');
      await crashed.mutex('jobs/stale').acquire();
      // A session that expired and that no writing client has swept yet: a read that writes
      // would delete its entry (and publish the deletion).
      const client = await redis!.raw();
      expect(await client.del(`{${prefix}}s:${(backendOf(crashed) as RedisBackend).sessionId}`)).toBe(1);
      const before = await snapshot(prefix);
      expect(Object.keys(before.contents).filter((key) => key.includes('}q:'))).toHaveLength(2);
      const status = await readAll(redis!.url({ prefix }), 'jobs/nightly', /"leader":\{[^}]*"value":"node-a"/);
      expect(status).toMatch(/node-a/);
      // Left out of the listing, as a writing read would have had it after the sweep.
      expect(await readAll(redis!.url({ prefix }), 'jobs/stale')).toMatch(/nobody holds or waits for "jobs\/stale"/);
      // The dashboard's scan on a read-only coordinator: the live queue, not the expired entry.
      const reader = await connect({ backend: 'redis', host: redis!.host, port: redis!.port, prefix, readOnly: true });
      try {
        const stop = new AbortController();
        const scanned = await (backendOf(reader) as RedisBackend).scan('', stop.signal);
        scanned.changed.catch(() => {});
        stop.abort();
        expect(scanned.current.keys.map((key) => key.parent)).toEqual(['jobs/nightly']);
      } finally {
        await reader.close();
      }
      expect(await snapshot(prefix)).toEqual(before);
      await election.resign();
    } finally {
      await Promise.all([writer.close(), crashed.close()]);
    }
  }, 120_000);
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

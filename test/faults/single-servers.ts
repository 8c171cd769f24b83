/**
 * The single-server backends of the fault suite: one PostgreSQL server and one Redis server, each
 * started by the suite itself (test/support's), behind the same Cluster interface as the etcd
 * cluster and the ZooKeeper ensemble. Baton talks to one primary of each, so a "cluster" here has
 * one member: it is the leader, a pause or kill of it is a full outage, and there is no follower.
 */
import { Redis } from 'ioredis';
import { startPostgres } from '../support/postgres-server.js';
import { startRedis } from '../support/redis-server.js';
import type { Cluster, StoredKey } from './clusters.js';
import { pollUntil } from './poll.js';

/** Session TTLs are whole seconds on both backends (at least 1). */
const ttlSeconds = (ttlMs: number) => Math.max(1, Math.round(ttlMs / 1000));

/** Baton's schema in the suite's PostgreSQL server (the default). */
const SCHEMA = 'baton';

export async function startPostgresCluster(): Promise<Cluster | undefined> {
  const server = await startPostgres({ needControl: true });
  if (!server) return undefined;
  const endpoint = `${server.host}:${server.port}`;
  return {
    backend: 'postgres',
    size: 1,
    endpoints: [endpoint],
    url(ttlMs, endpoints = [endpoint]) {
      // The URL of the server, pointed at `endpoints[0]` (a client's proxy, when proxied).
      const url = new URL(server.url({ params: { ttl: ttlSeconds(ttlMs), schema: SCHEMA } }));
      url.host = endpoints[0] ?? endpoint;
      return url.toString();
    },
    keyOf: (name) => name,
    leader: async () => 0,
    kill: () => server.kill(),
    start: () => server.start(),
    pause: () => server.pause(),
    resume: () => server.resume(),
    waitHealthy: (timeoutMs = 30_000) =>
      pollUntil(
        'PostgreSQL not serving',
        () =>
          server.sql('select 1').then(
            () => true,
            () => false,
          ),
        timeoutMs,
      ),
    async listKeys(prefix) {
      // A key of an expired session is gone for every reader (Baton deletes it before it reads),
      // even while its row waits for the next sweep: it counts as owned only while its session lives.
      const like = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}/%`;
      try {
        const rows = await server.sql<{ key: string; revision: string; value: string; owned: boolean }>(
          `select k.key, k.revision::text as revision, k.value,
                  coalesce(s.expires_at > clock_timestamp(), false) as owned
             from ${SCHEMA}.keys k left join ${SCHEMA}.sessions s on s.id = k.session_id
            where k.key like $1`,
          [like],
        );
        return rows;
      } catch (error) {
        // No client got as far as creating Baton's schema: nothing is stored.
        if ((error as { code?: string }).code === '42P01' || (error as { code?: string }).code === '3F000') return [];
        throw error;
      }
    },
    stop: () => server.stop(),
  };
}

/** Baton's key prefix in the suite's Redis server (the default); its keys start with `{baton:}`. */
const REDIS_TAG = '{baton:}';

export async function startRedisCluster(): Promise<Cluster | undefined> {
  // Persistence as docs/redis.md asks of a server that must keep tokens increasing across a crash:
  // an append-only file, fsynced on every write.
  const server = await startRedis({ needControl: true, persistence: true });
  if (!server) return undefined;
  const endpoint = `${server.host}:${server.port}`;
  /** A short-lived plain client for the runner's own reads (not the server's raw(), which lives on). */
  const withClient = async <T>(fn: (redis: Redis) => Promise<T>): Promise<T> => {
    const redis = new Redis({ host: server.host, port: server.port, lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null });
    redis.on('error', () => {});
    try {
      await redis.connect();
      return await fn(redis);
    } finally {
      redis.disconnect();
    }
  };
  const scan = async (redis: Redis, pattern: string): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return found;
  };
  const glob = (text: string) => text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
  return {
    backend: 'redis',
    size: 1,
    endpoints: [endpoint],
    url: (ttlMs, endpoints = [endpoint]) => `redis://${endpoints[0] ?? endpoint}?ttl=${ttlSeconds(ttlMs)}`,
    keyOf: (name) => name,
    leader: async () => 0,
    kill: () => server.kill(),
    start: () => server.start(),
    pause: () => server.pause(),
    resume: () => server.resume(),
    waitHealthy: (timeoutMs = 30_000) =>
      pollUntil(
        'Redis not serving',
        () =>
          withClient(async (redis) => (await redis.ping()) === 'PONG').then(
            (ok) => ok,
            () => false,
          ),
        timeoutMs,
      ),
    listKeys: (prefix) =>
      withClient(async (redis) => {
        const found: StoredKey[] = [];
        // Contender keys: every queue at or below `prefix` (a semaphore keeps two), a sorted set
        // of names scored by revision; a name is owned while its session's key lives.
        const queueStart = `${REDIS_TAG}q:`;
        const queues = [...(await scan(redis, `${glob(queueStart + prefix)}`)), ...(await scan(redis, `${glob(`${queueStart}${prefix}/`)}*`))];
        for (const queue of queues) {
          const queuePrefix = queue.slice(queueStart.length);
          const scored = await redis.zrange(queue, 0, -1, 'WITHSCORES');
          for (let i = 0; i < scored.length; i += 2) {
            const name = scored[i]!;
            const session = name.split('-')[0]!;
            const value = (await redis.hget(`${REDIS_TAG}v:${queuePrefix}`, name)) ?? '';
            found.push({ key: `${queuePrefix}/${name}`, revision: scored[i + 1]!, value, owned: (await redis.exists(`${REDIS_TAG}s:${session}`)) === 1 });
          }
        }
        // Plain keys written by guarded writes: a hash with the value and the revision.
        const dataStart = `${REDIS_TAG}d:`;
        for (const data of await scan(redis, `${glob(`${dataStart}${prefix}/`)}*`)) {
          const [value, revision] = await redis.hmget(data, 'v', 'r');
          found.push({ key: data.slice(dataStart.length), revision: revision ?? '0', value: value ?? '', owned: false });
        }
        return found;
      }),
    stop: () => server.stop(),
  };
}

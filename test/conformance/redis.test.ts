/**
 * The conformance suite against a real Redis (see test/support/redis-server.ts for where it comes
 * from). The suite runs unchanged; this file only says how to connect, end a session from the
 * server side (its key expires, as it would when renewals stop) and delete a key behind Baton's
 * back (remove the entry from its queue, as an operator with redis-cli would). Keys live under
 * a per-run prefix, so the prefix handling is exercised too.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { connect } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { type RedisServer, redisAvailable, startRedis } from '../support/redis-server.js';
import { runConformance } from './suite.js';

const prefix = `baton-conformance-${process.pid}:`;
/** Short enough that a server-side expiry is noticed within a couple of seconds. */
const TTL_SECONDS = 5;
let server: RedisServer | undefined;
let raw: Redis | undefined;
beforeAll(async () => {
  server = await startRedis();
  raw = await server?.raw();
}, 120_000);
afterAll(async () => {
  await server?.stop();
});

const available = redisAvailable() || process.env.CI === 'true';

describe.skipIf(!available)('Redis', () => {
  runConformance({
    name: 'redis',
    connect: (options) => connect(server!.url({ prefix, ttl: options?.ttl ?? TTL_SECONDS })),
    async expireSession(coord) {
      const backend = backendOf(coord);
      if (!(backend instanceof RedisBackend) || backend.sessionId === undefined) throw new Error('no open Redis session to expire');
      // What the server does when renewals stop: the session key expires.
      await raw!.pexpire(backend.keys.session(backend.sessionId), 1);
    },
    async deleteKey(key) {
      const slash = key.lastIndexOf('/');
      const queue = key.slice(0, slash);
      const name = key.slice(slash + 1);
      const tag = `{${prefix}}`;
      await raw!.multi().zrem(`${tag}q:${queue}`, name).hdel(`${tag}v:${queue}`, name).exec();
      // An operator's deletion is not announced: the hold must notice it anyway (see docs/redis.md).
    },
  });
});

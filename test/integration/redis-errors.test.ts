/**
 * Clear errors from the Redis backend, against real servers: nothing listening, a password
 * refused or missing, a Redis Cluster node that does not serve Baton's hash slot, and scripts the
 * server forgot (SCRIPT FLUSH, as after a restart) that must be sent again, not fail. Also the
 * configuration checks, which need no server.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendError, ConfigError, connect } from '../../src/index.js';
import { freePort } from '../support/servers.js';
import { localRedisAvailable, type RedisServer, startRedis } from '../support/redis-server.js';

const wanted = localRedisAvailable() || process.env.CI === 'true';
const started: RedisServer[] = [];
afterAll(async () => {
  await Promise.all(started.map((server) => server.stop()));
});

async function server(options: Parameters<typeof startRedis>[0] = {}): Promise<RedisServer> {
  const found = await startRedis({ needControl: true, ...options });
  started.push(found!);
  return found!;
}

describe('Redis configuration', () => {
  const reject = (config: Parameters<typeof connect>[0]) => expect(connect(config)).rejects.toBeInstanceOf(ConfigError);

  it('refuses malformed URLs and fields at once, saying what is accepted', async () => {
    await expect(connect('redis://127.0.0.1:6379?ttl=0')).rejects.toThrow(/ttl must be a number from 1/);
    await expect(connect('redis://127.0.0.1:6379?prefix={x}')).rejects.toThrow(/without spaces or braces/);
    await expect(connect('redis://127.0.0.1:6379/abc')).rejects.toThrow(/database must be a number/);
    await expect(connect('redis://127.0.0.1:6379?namespace=x')).rejects.toThrow(/unknown parameter "namespace".*ttl, prefix/);
    await expect(connect('redis://127.0.0.1:6379,127.0.0.1:6380')).rejects.toThrow(/one host:port only/);
    await expect(connect('redis://127.0.0.1:6379?ca=/x')).rejects.toThrow(/unknown parameter "ca"/);
    await reject({ backend: 'redis', port: 70000 });
    await reject({ backend: 'redis', password: 'a', auth: { username: 'u', password: 'p' } });
    await expect(connect({ backend: 'redis', endpoints: ['x'] } as never)).rejects.toThrow(/unknown field "endpoints".*host, port/);
  });
});

describe.skipIf(!wanted)('Redis errors against real servers', () => {
  it('nothing listening: a BackendError saying the connection was refused, at once', async () => {
    const port = await freePort();
    const startedAt = performance.now();
    const error = await connect(`redis://127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toMatch(new RegExp(`cannot connect to Redis at redis://127.0.0.1:${port}/0: connection refused`));
    expect(performance.now() - startedAt).toBeLessThan(3000);
  });

  it('a wrong or missing password: a BackendError naming the credentials', async () => {
    const secured = await server({ password: 'right-password' });
    const wrong = await connect(secured.url({ auth: { username: 'default', password: 'wrong' } })).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(BackendError);
    expect((wrong as Error).message).toMatch(/refused the credentials of user "default"/);
    const missing = await connect(secured.url()).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(BackendError);
    expect((missing as Error).message).toMatch(/needs a password/);
    const coord = await connect(secured.url({ auth: { username: 'default', password: 'right-password' } }));
    const lease = await coord.mutex('errors/auth').acquire();
    await lease.release();
    await coord.close();
  });

  it('a cluster node that does not serve the prefix hash slot: a BackendError saying so', async () => {
    const node = await server({ extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${randomUUID()}.conf`] });
    const error = await connect(node.url()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toMatch(/Redis Cluster node.*does not serve the hash slot of \{baton:\}/);
  });

  it('scripts the server forgot (SCRIPT FLUSH, as after a restart) are sent again: acquire, wait and release still work', async () => {
    const plain = await server();
    const raw = await plain.raw();
    const [a, b] = [await connect(plain.url()), await connect(plain.url())];
    const evalsBefore = await evalCalls(raw);
    await raw.script('FLUSH');
    const holder = await a.mutex('errors/noscript').acquire();
    let queued!: () => void;
    const isQueued = new Promise<void>((resolve) => (queued = resolve));
    const waiting = b.mutex('errors/noscript').acquire({ onQueued: () => queued() });
    await isQueued;
    await raw.script('FLUSH');
    await holder.release();
    const next = await waiting;
    expect(next.token > holder.token).toBe(true);
    await next.release();
    // Each forgotten script was sent once in full (EVAL), after its EVALSHA met NOSCRIPT.
    expect(await evalCalls(raw)).toBeGreaterThan(evalsBefore);
    await Promise.all([a.close(), b.close()]);
  });
});

/** How many EVAL calls the server has served. */
async function evalCalls(raw: Awaited<ReturnType<RedisServer['raw']>>): Promise<number> {
  const stats = String(await raw.info('commandstats'));
  return Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

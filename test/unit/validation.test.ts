import { describe, expect, it } from 'vitest';
import { ConfigError, connect, FencingGuard, InvalidArgumentError, StaleTokenError } from '../../src/index.js';
import { resolveConfig } from '../../src/config.js';

describe('names', () => {
  const coordPromise = connect();
  it.each([
    ['', 'length 0'],
    ['/leading', 'an empty segment'],
    ['trailing/', 'an empty segment'],
    ['a//b', 'an empty segment'],
    ['..', 'segment ".."'],
    ['-flag', 'segment "-flag"'],
    ['has space', 'segment "has space"'],
    ['x'.repeat(201), 'length 201'],
  ])('rejects %j at once, saying what is accepted', async (name, why) => {
    const coord = await coordPromise;
    for (const make of [
      () => coord.mutex(name),
      () => coord.semaphore(name, { permits: 1 }),
      () => coord.readWriteLock(name),
      () => coord.election(name),
    ]) {
      expect(make).toThrow(InvalidArgumentError);
      expect(make).toThrow(why);
      expect(make).toThrow('letters, digits');
    }
  });

  it('rejects a name that is not a string', async () => {
    const coord = await coordPromise;
    expect(() => coord.mutex(42 as unknown as string)).toThrow(/invalid name 42: name must be/);
  });

  it('accepts nested names', async () => {
    const coord = await coordPromise;
    expect(coord.mutex('jobs/nightly-backup_v2.1').name).toBe('jobs/nightly-backup_v2.1');
  });
});

describe('permits, timeouts, values and options', () => {
  it.each([0, 1.5, -1, Number.NaN, '2', undefined])('rejects permits %j', async (permits) => {
    const coord = await connect();
    expect(() => coord.semaphore('sem', { permits: permits as number })).toThrow(
      /invalid permits .*: permits must be an integer from 1 to 1000000/,
    );
  });

  it.each([-1, Number.POSITIVE_INFINITY, Number.NaN, '100'])('rejects timeoutMs %j before touching the backend', async (timeoutMs) => {
    const coord = await connect();
    const mutex = coord.mutex(`timeout-${String(timeoutMs)}`);
    await expect(mutex.acquire({ timeoutMs: timeoutMs as number })).rejects.toThrow(
      /invalid timeoutMs .*: timeoutMs must be a finite number of milliseconds/,
    );
    // Nothing was left queued by the refused call.
    const lease = await mutex.tryAcquire();
    expect(lease).toBeDefined();
    await lease?.release();
    await coord.close();
  });

  it('rejects a bad signal, onQueued or options object', async () => {
    const coord = await connect();
    await expect(coord.mutex('o').acquire({ signal: 'no' as unknown as AbortSignal })).rejects.toThrow(/signal must be an AbortSignal/);
    await expect(coord.mutex('o').acquire({ onQueued: 1 as unknown as () => void })).rejects.toThrow(/onQueued must be a function/);
    await expect(coord.mutex('o').acquire(5 as unknown as object)).rejects.toThrow(/options must be an object/);
  });

  it('rejects a campaign value that is not a string or too large', async () => {
    const coord = await connect();
    await expect(coord.election('e').campaign(7 as unknown as string)).rejects.toThrow(/value must be a string/);
    await expect(coord.election('e').campaign('x'.repeat(70_000))).rejects.toThrow(/70000 bytes, at most 65536/);
  });

  it('rejects malformed guarded writes', async () => {
    const coord = await connect();
    const lease = await coord.mutex('guarded-bad').acquire();
    await expect(lease.guardedWrite([{ put: 'k' } as never])).rejects.toThrow(/ops must be an array of/);
    await expect(lease.guardedWrite('x' as never)).rejects.toThrow(InvalidArgumentError);
    await lease.release();
  });
});

describe('configuration', () => {
  it.each([
    ['mqtt://localhost:1883', /unknown backend scheme "mqtt:\/\/".*accepted schemes are memory:\/\/.*redis:\/\//],
    ['localhost:2379', /invalid config URL "localhost:2379": expected scheme:\/\//],
    ['memory://somewhere', /the memory backend has no address/],
    ['memory://?ttl=0', /invalid ttl "0": ttl must be a number from 0.01 to 86400/],
    ['memory://?tll=5', /unknown parameter "tll".*accepted parameters are ttl/],
  ])('rejects the URL %s', async (url, message) => {
    await expect(connect(url)).rejects.toThrow(ConfigError);
    await expect(connect(url)).rejects.toThrow(message);
  });

  it('rejects unknown object forms and fields', async () => {
    await expect(connect({ backend: 'consul' } as never)).rejects.toThrow(/invalid config.backend "consul": accepted backends are "memory"/);
    await expect(connect({ backend: 'memory', tll: 3 } as never)).rejects.toThrow(/unknown field "tll" in memory config: accepted fields are/);
    await expect(connect({ backend: 'memory', ttl: -3 })).rejects.toThrow(/invalid ttl -3/);
    await expect(connect(42 as never)).rejects.toThrow(/invalid config 42: pass a URL string/);
  });

  it('reads readonly on PostgreSQL and Redis as a flag, and rejects any other value', async () => {
    for (const url of ['postgres://localhost/db', 'redis://localhost:6379']) {
      const on = await resolveConfig(`${url}?readonly=true`, {});
      expect((on.options as { readOnly: boolean }).readOnly).toBe(true);
      const off = await resolveConfig(url, {});
      expect((off.options as { readOnly: boolean }).readOnly).toBe(false);
      await expect(resolveConfig(`${url}?readonly=maybe`, {})).rejects.toThrow(/invalid readonly "maybe": readonly must be true, false, 1 or 0/);
    }
    const backend = 'redis';
    await expect(resolveConfig({ backend, readOnly: 'yes' } as never, {})).rejects.toThrow(/invalid readOnly "yes": readOnly must be true or false/);
  });

  it('uses BATON_BACKEND when no config is given, and memory:// when neither is', async () => {
    const fromEnv = await resolveConfig(undefined, { BATON_BACKEND: 'memory://?ttl=7' });
    expect(fromEnv.module.kind).toBe('memory');
    expect((fromEnv.options as { ttl: number }).ttl).toBe(7);
    const fallback = await resolveConfig(undefined, {});
    expect(fallback.module.kind).toBe('memory');
    await expect(resolveConfig(undefined, { BATON_BACKEND: 'nope://x' })).rejects.toThrow(/unknown backend scheme "nope:\/\/" in BATON_BACKEND/);
  });

  it('reports which backend a coordinator uses', async () => {
    const coord = await connect();
    expect(coord.backend).toBe('memory');
    await coord.close();
  });
});

describe('FencingGuard', () => {
  it('accepts equal or higher tokens and refuses lower ones', () => {
    const guard = new FencingGuard();
    guard.check(5n);
    guard.check(5n);
    guard.check(9n);
    expect(() => guard.check(7n)).toThrow(StaleTokenError);
    expect(guard.accepts(8n)).toBe(false);
    expect(guard.highest).toBe(9n);
    expect(() => guard.check(3 as unknown as bigint)).toThrow(/a token is a non-negative bigint/);
    expect(new FencingGuard(12n).accepts(11n)).toBe(false);
  });
});

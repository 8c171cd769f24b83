import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Coordinator, connect, InvalidArgumentError, type Lease } from '../../src/index.js';

let coord: Coordinator;
beforeEach(async () => {
  coord = await connect();
});
afterEach(async () => {
  await coord.close();
});

describe('acquire options', () => {
  it('an unknown option is refused at once, naming it and what is accepted, and leaves no key', async () => {
    const calls: [string, () => Promise<unknown>][] = [
      ['mutex.acquire', () => coord.mutex('opts/a').acquire({ timeout: 100 } as never)],
      ['mutex.tryAcquire', () => coord.mutex('opts/a').tryAcquire({ onQueued: () => {} } as never)],
      ['semaphore.acquire', () => coord.semaphore('opts/s', { permits: 1 }).acquire({ timeout: 100 } as never)],
      ['readWriteLock.read', () => coord.readWriteLock('opts/rw').read({ timeout: 100 } as never)],
      ['readWriteLock.write', () => coord.readWriteLock('opts/rw').write({ timeout: 100 } as never)],
      ['readWriteLock.tryRead', () => coord.readWriteLock('opts/rw').tryRead({ timout: 1 } as never)],
      ['election.campaign', () => coord.election('opts/e').campaign('v', { timeout: 100 } as never)],
    ];
    for (const [label, call] of calls) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, label).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message, label).toMatch(/^unknown option "(timeout|onQueued|timout)" in .*: accepted options are signal, timeoutMs/);
    }
    expect(((await coord.mutex('opts/a').acquire({ timeout: 1 } as never).catch((e: Error) => e)) as Error).message).toContain(
      '(did you mean timeoutMs?)',
    );
    for (const status of [await coord.mutex('opts/a').status(), await coord.readWriteLock('opts/rw').status()]) {
      expect(status.holders.length + status.waiters.length).toBe(0);
    }
  });
});

describe('a with-helper on every recipe', () => {
  const cases: [string, (run: (lease: Lease) => Promise<string>) => Promise<string>, () => Promise<number>][] = [
    ['semaphore.withPermit', (run) => coord.semaphore('with/s', { permits: 2 }).withPermit(run), async () => (await coord.semaphore('with/s', { permits: 2 }).status()).holders.length],
    ['readWriteLock.withReadLock', (run) => coord.readWriteLock('with/rw').withReadLock(run), async () => (await coord.readWriteLock('with/rw').status()).holders.length],
    ['readWriteLock.withWriteLock', (run) => coord.readWriteLock('with/rw').withWriteLock(run), async () => (await coord.readWriteLock('with/rw').status()).holders.length],
    ['election.withLeadership', (run) => coord.election('with/e').withLeadership('me', run), async () => ((await coord.election('with/e').leader()) ? 1 : 0)],
  ];
  for (const [label, withHold, holders] of cases) {
    it(`${label} runs fn holding, and releases after, also when fn throws`, async () => {
      let seen: Lease | undefined;
      const result = await withHold(async (lease) => {
        seen = lease;
        expect(await holders()).toBe(1);
        return 'done';
      });
      expect(result).toBe('done');
      expect(seen?.signal.aborted).toBe(true);
      expect(await holders()).toBe(0);
      await expect(withHold(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      expect(await holders()).toBe(0);
      await expect(withHold('not a function' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    });
  }
});

describe('names', () => {
  it('a 10,000-character name is refused without echoing it', () => {
    const name = 'x'.repeat(10_000);
    let message = '';
    try {
      coord.mutex(name);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^invalid name "x{60}\.\.\." \(length 10000\): name must be 1-200 characters/);
    expect(message.length).toBeLessThan(400);
  });

  it('only ASCII letters, digits, ".", "_" and "-" in segments; 200 characters at most', () => {
    expect(() => coord.mutex('jobs/nächtlich')).toThrow(/invalid name "jobs\/nächtlich" \(segment "nächtlich"\): .*ASCII letters/);
    expect(coord.mutex('a'.repeat(200)).name).toHaveLength(200);
    expect(() => coord.mutex('a'.repeat(201))).toThrow(/length 201/);
  });
});

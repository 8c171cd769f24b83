import diagnostics from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, LeaseLostError } from '../../src/index.js';
import { CHANNELS, type LeaseMessage, type SessionMessage } from '../../src/observability/channels.js';
import { backendOf, type MemoryBackend } from '../../src/testing.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** Collects every message published on `name` until the test ends. */
function collect<T>(name: string): T[] {
  const seen: T[] = [];
  const listener = (message: unknown) => void seen.push(message as T);
  diagnostics.subscribe(name, listener);
  cleanups.push(() => void diagnostics.unsubscribe(name, listener));
  return seen;
}

/** Resolves once `signal` has aborted (at once if it has). */
function ended(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

function traceAcquires(): { event: string; name: string; result?: unknown; error?: unknown }[] {
  const events: { event: string; name: string; result?: unknown; error?: unknown }[] = [];
  const channel = diagnostics.tracingChannel('baton:acquire');
  const handler = (event: string) => (context: unknown) => {
    const c = context as { name: string; result?: unknown; error?: unknown };
    events.push({ event, name: c.name, ...('result' in c ? { result: c.result } : {}), ...('error' in c ? { error: c.error } : {}) });
  };
  const handlers = { start: handler('start'), end: handler('end'), asyncStart: handler('asyncStart'), asyncEnd: handler('asyncEnd'), error: handler('error') };
  channel.subscribe(handlers);
  cleanups.push(() => void channel.unsubscribe(handlers));
  return events;
}

describe('diagnostics channels', () => {
  it('traces an acquire and publishes grant and release, with waited and held times', async () => {
    const traces = traceAcquires();
    const granted = collect<LeaseMessage>(CHANNELS.granted);
    const released = collect<LeaseMessage>(CHANNELS.released);
    const coord = await connect();
    cleanups.push(() => coord.close());

    const lease = await coord.mutex('obs/a').acquire();
    expect(traces.map((t) => t.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    expect(traces.at(-1)?.result).toBe(lease);
    expect(granted).toEqual([
      { backend: 'memory', recipe: 'mutex', name: 'obs/a', key: lease.key, token: lease.token, durationMs: expect.any(Number) },
    ]);
    expect(released).toEqual([]);
    await lease.release();
    expect(released).toHaveLength(1);
    expect(released[0]).toMatchObject({ recipe: 'mutex', name: 'obs/a', key: lease.key, token: lease.token });
  });

  it('traces a timed-out acquire as an error', async () => {
    const traces = traceAcquires();
    const coord = await connect();
    cleanups.push(() => coord.close());
    const holder = await coord.semaphore('obs/sem', { permits: 1 }).acquire();
    await expect(coord.semaphore('obs/sem', { permits: 1 }).acquire({ timeoutMs: 20 })).rejects.toThrow();
    const failed = traces.filter((t) => t.event === 'error');
    expect(failed).toHaveLength(1);
    expect((failed[0]?.error as Error).name).toBe('TimeoutError');
    await holder.release();
  });

  it('publishes a loss with its cause: key deleted, session lost', async () => {
    const lost = collect<LeaseMessage>(CHANNELS.lost);
    const sessionLost = collect<SessionMessage>(CHANNELS.sessionLost);
    const coord = await connect();
    cleanups.push(() => coord.close());
    const memory = backendOf(coord) as MemoryBackend;

    const first = await coord.mutex('obs/deleted').acquire();
    memory.deleteKey(first.key);
    await ended(first.signal);
    expect(lost).toEqual([
      expect.objectContaining({ name: 'obs/deleted', key: first.key, cause: 'key-deleted', error: expect.any(LeaseLostError) }),
    ]);

    const second = await coord.election('obs/expired').campaign('me');
    memory.expireSession();
    await ended(second.signal);
    expect(lost[1]).toMatchObject({ recipe: 'election', name: 'obs/expired', cause: 'session-lost' });
    expect(sessionLost).toHaveLength(1);
  });

  it('publishes session opened and renewed', async () => {
    const opened = collect<SessionMessage>(CHANNELS.sessionOpened);
    const coord = await connect({ backend: 'memory', ttl: 1 });
    cleanups.push(() => coord.close());
    const lease = await coord.mutex('obs/session').acquire();
    expect(opened).toEqual([{ backend: 'memory', id: expect.any(String) }]);
    const renewed = await new Promise<SessionMessage>((resolve) => {
      const listener = (message: unknown) => {
        diagnostics.unsubscribe(CHANNELS.sessionRenewed, listener);
        resolve(message as SessionMessage);
      };
      diagnostics.subscribe(CHANNELS.sessionRenewed, listener);
    });
    expect(renewed).toEqual({ backend: 'memory', id: opened[0]?.id, latencyMs: expect.any(Number) });
    await lease.release();
  });

  it('builds no message when nobody subscribes', async () => {
    const coord = await connect();
    cleanups.push(() => coord.close());
    // With no subscriber the channels report no subscribers, and the publication is skipped
    // before its message is built: a message factory that throws proves it is never called.
    const { publish, grantedChannel } = await import('../../src/observability/channels.js');
    expect(grantedChannel.hasSubscribers).toBe(false);
    expect(() =>
      publish(grantedChannel, () => {
        throw new Error('built a message nobody reads');
      }),
    ).not.toThrow();
    const lease = await coord.mutex('obs/quiet').acquire();
    await lease.release();
  });
});

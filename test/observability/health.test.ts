import { describe, expect, it } from 'vitest';
import { connect, type HealthEvent } from '../../src/index.js';
import { backendOf, ManualClock, type MemoryBackend } from '../../src/testing.js';

/** Lets the async iteration take the events already queued for it. */
const delivered = () => new Promise((resolve) => setImmediate(resolve));

describe('coordinator health', () => {
  it('reports connected, out of contact with the time left, reconnected, lost, and closed', async () => {
    const clock = new ManualClock();
    const coord = await connect({ backend: 'memory', ttl: 3, clock });
    const memory = backendOf(coord) as MemoryBackend;
    const events: HealthEvent[] = [];
    const following = (async () => {
      for await (const event of coord.healthChanges()) events.push(event);
    })();

    const lease = await coord.mutex('health/a').acquire();
    expect(coord.health()).toMatchObject({ backend: 'memory', state: 'connected', session: expect.any(String) });

    // The link freezes: the next keep-alive (every ttl/3 = 1 s) cannot get through.
    memory.faults.freeze();
    clock.advance(1000);
    await delivered();
    expect(coord.health()).toMatchObject({ state: 'out-of-contact', lossInMs: expect.any(Number) });
    // 2000 ms of the clock's time left, less the real milliseconds the test itself took.
    expect(events.at(-1)).toMatchObject({ type: 'out-of-contact', lossInMs: expect.any(Number) });
    expect(events.at(-1)?.lossInMs).toBeGreaterThan(1500);
    expect(events.at(-1)?.lossInMs).toBeLessThanOrEqual(2000);
    expect(lease.signal.aborted).toBe(false);

    // Contact returns before the deadline: the hold survives.
    memory.faults.thaw();
    clock.advance(1000);
    await delivered();
    expect(events.at(-1)?.type).toBe('reconnected');
    expect(coord.health().state).toBe('connected');

    // Frozen past the TTL: the session is lost, and so is the hold.
    memory.faults.freeze();
    clock.advance(3000);
    expect(lease.signal.aborted).toBe(true);
    expect(coord.health()).toMatchObject({ state: 'lost', error: expect.objectContaining({ name: 'SessionLostError' }) });
    memory.faults.thaw();

    // A later acquire opens a new session: contact again.
    const again = await coord.mutex('health/a').acquire();
    expect(coord.health().state).toBe('connected');
    await again.release();
    await coord.close();
    await following;
    expect(coord.health().state).toBe('closed');
    expect(events.map((e) => e.type)).toEqual(['connected', 'out-of-contact', 'reconnected', 'out-of-contact', 'lost', 'reconnected', 'closed']);
  });

  it('stops iterating when its signal aborts', async () => {
    const coord = await connect();
    const stop = new AbortController();
    const seen: string[] = [];
    const following = (async () => {
      for await (const event of coord.healthChanges({ signal: stop.signal })) seen.push(event.type);
    })();
    stop.abort();
    await following;
    expect(seen).toEqual([]);
    await coord.close();
  });
});

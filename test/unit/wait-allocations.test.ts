import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type Lease } from '../../src/index.js';

// A process with thousands of waiters pays for every object a wait makes, so what one wait makes
// is counted here (speed itself is measured by bench/waiters.mjs, not by a test).
describe('allocations of a wait on the embedded backend', () => {
  const OriginalController = globalThis.AbortController;
  let coord: Coordinator | undefined;
  afterEach(async () => {
    globalThis.AbortController = OriginalController;
    await coord?.close();
  });

  it('a waiter with no timeout and no signal makes one AbortController from its call to its grant, however often it is woken', async () => {
    coord = await connect('memory://');
    const mutex = coord.mutex('allocations');
    const waiters = 4;
    const holder = await mutex.acquire();
    const made = { waits: 0, removals: 0 };
    globalThis.AbortController = class extends OriginalController {
      constructor() {
        super();
        // A release's removal attempt makes one too; it is counted apart from the waits.
        if (new Error().stack?.includes('GuaranteedRemovals')) made.removals++;
        else made.waits++;
      }
    };
    const granted: Promise<Lease>[] = [];
    for (let i = 0; i < waiters; i++) granted.push(mutex.acquire());
    // Served one after another: each waiter is granted when the one before it releases.
    let lease = holder;
    for (const next of granted) {
      await lease.release();
      lease = await next;
    }
    globalThis.AbortController = OriginalController;
    await lease.release();
    expect(made.removals).toBe(waiters);
    expect(made.waits).toBe(waiters);
  });
});

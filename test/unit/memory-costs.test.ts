/**
 * What an uncontended acquire + release on the embedded memory backend allocates besides its
 * requests: AbortControllers and timers, counted by replacing the globals while it runs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { leastAllocationsOf } from '../support/allocations.js';

const opened: Coordinator[] = [];
afterAll(() => Promise.all(opened.map((coord) => coord.close())));

describe('allocations of an acquire on memory', () => {
  it('an uncontended acquire + release makes no AbortController and no timer: the removal needs no deadline of its own', async () => {
    const coord = await connect('memory://');
    opened.push(coord);
    const mutex = coord.mutex('memory-costs');
    const pair = async () => (await mutex.acquire()).release();
    // The session's first release arms the removals' one deadline timer.
    for (let i = 0; i < 3; i++) await pair();
    // Before, each release's removal attempt made an AbortController and a timer of its own.
    expect(await leastAllocationsOf(pair)).toEqual({ controllers: 0, timers: 0 });
  });
});

/**
 * An acquire's deadline counts from the call. Work done before its wait begins (a tracing
 * subscriber, instrumentation loaded on the first acquire, a process descheduled meanwhile) must
 * not push the TimeoutError past timeoutMs + 250 ms. Such work is made slow here on purpose by a
 * subscriber of the `baton:acquire` tracing channel's start event, which runs before the acquire.
 */
import diagnostics from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { type Coordinator, connect, TimeoutError } from '../../src/index.js';
import { startStallMeter } from '../faults/stall-meter.mjs';

const BLOCK_MS = 400;
const TIMEOUT_MS = 600;
const start = diagnostics.channel('tracing:baton:acquire:start');
const blockBeforeTheWait = () => {
  const until = performance.now() + BLOCK_MS;
  while (performance.now() < until) {
    // Synchronous on purpose: nothing else runs meanwhile.
  }
};

let coord: Coordinator | undefined;
afterEach(async () => {
  start.unsubscribe(blockBeforeTheWait);
  await coord?.close();
  coord = undefined;
});

/** Each waiting call, against a name that the first call of the same kind holds. */
const waits: Array<[string, (c: Coordinator, timeoutMs?: number) => Promise<unknown>]> = [
  ['mutex acquire', (c, timeoutMs) => c.mutex('m').acquire({ timeoutMs })],
  ['semaphore acquire', (c, timeoutMs) => c.semaphore('s', { permits: 1 }).acquire({ timeoutMs })],
  ['write lock', (c, timeoutMs) => c.readWriteLock('rw').write({ timeoutMs })],
  ['read lock behind a writer', (c, timeoutMs) => (timeoutMs === undefined ? c.readWriteLock('rw2').write() : c.readWriteLock('rw2').read({ timeoutMs }))],
  ['campaign', (c, timeoutMs) => c.election('e').campaign('me', { timeoutMs })],
];

describe('the deadline of a wait counts from the call', () => {
  it.each(waits)('%s rejects within timeoutMs + 250 ms of the call, however long the work before its wait', async (_, wait) => {
    coord = await connect();
    await wait(coord);
    start.subscribe(blockBeforeTheWait);
    const stalls = startStallMeter();
    try {
      const calledAt = performance.now();
      const error = await wait(coord, TIMEOUT_MS).catch((e: unknown) => e);
      const tookMs = performance.now() - calledAt;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(tookMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
      // Time this process was not scheduled after the deadline (a loaded machine) is not the library's.
      expect(tookMs - stalls.notRunningMs(calledAt + TIMEOUT_MS)).toBeLessThan(TIMEOUT_MS + 250);
    } finally {
      stalls.stop();
    }
  });
});

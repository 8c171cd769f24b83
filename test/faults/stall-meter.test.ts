/**
 * The stall meter the fault clients use to excuse time their process did not run from the
 * acquire bound. A stall ending at the very moment an answer arrives must count: after a stall,
 * Node runs I/O callbacks (the answer that resolves an acquire) before overdue timers, so a
 * measure fed by a timer has not seen that stall yet when the grant is logged.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startStallMeter } from './stall-meter.mjs';

const METER = fileURLToPath(new URL('./stall-meter.mjs', import.meta.url));

/** A child process that, on each message, answers how long it did not run since it said ready. */
function meteredChild(): ChildProcess {
  const code = `
    import { startStallMeter } from ${JSON.stringify(METER)};
    const meter = startStallMeter();
    setTimeout(() => {
      meter.reset();
      const from = performance.now();
      process.send('ready');
      process.on('message', () => process.send(meter.notRunningMs(from)));
    }, 100);
  `;
  return spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

/** How long this thread has waited on the kernel's run queue (Linux schedstat), in milliseconds. */
function runQueueWaitMs(): number {
  const [, waitingNs] = readFileSync('/proc/thread-self/schedstat', 'utf8').trim().split(/\s+/);
  return Number(waitingNs) / 1e6;
}

let child: ChildProcess | undefined;
afterEach(() => {
  child?.kill('SIGKILL');
  child = undefined;
});

describe('stall meter', () => {
  it('counts a stop that ends when a message arrives, before any timer of the process has run again', async () => {
    child = meteredChild();
    await once(child, 'message');
    child.kill('SIGSTOP');
    // The message waits in the socket while the child is stopped: on SIGCONT it is the first thing
    // the child's event loop runs, as a grant arriving during a stall is.
    child.send('how long?');
    await sleep(400);
    child.kill('SIGCONT');
    const [notRunning] = (await once(child, 'message')) as [number];
    expect(notRunning).toBeGreaterThanOrEqual(300);
  });

  it('counts a busy event loop up to the moment of reading, and only within the window asked about', async () => {
    const meter = startStallMeter();
    try {
      await sleep(50);
      meter.reset();
      const before = performance.now();
      const until = before + 250;
      while (performance.now() < until) {
        // The event loop is blocked, as in a process that is not scheduled.
      }
      expect(meter.notRunningMs(before)).toBeGreaterThanOrEqual(200);
      // A window that begins after the stall does not inherit it.
      await sleep(50);
      expect(meter.notRunningMs(performance.now())).toBeLessThan(50);
    } finally {
      meter.stop();
    }
  });

  it('reports next to nothing for a process that runs', async () => {
    const meter = startStallMeter();
    try {
      meter.reset();
      const waitedBefore = runQueueWaitMs();
      const from = performance.now();
      await sleep(200);
      // On a loaded machine this thread really does not run at times: the kernel counts how long
      // it waited to be scheduled, and the meter may report that much and a little more (a tick,
      // a garbage collection), never a stall made up from a process that ran.
      const waited = runQueueWaitMs() - waitedBefore;
      expect(meter.notRunningMs(from)).toBeLessThan(waited + 30);
    } finally {
      meter.stop();
    }
  });
});

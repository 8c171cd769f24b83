/**
 * The pacer of position reports (src/recipes/report-pacing.ts) keeps reporting to about a
 * fortieth of the process's time counted in CPU time as well as in wall time: after a flush
 * that took `t`, the next one waits until 39 t has passed and the process has used 39 t of CPU,
 * the CPU part given up after 200 ms (a process that is nearly idle still hears of changes).
 *
 * Checked on the clocks themselves, flush after flush in an idle process (the test waits on the
 * pacer's timer between flushes), each flush's listener costing a few ms: every gap between one
 * flush's end and the next one's start is at least 39 times the first's length in wall time, and
 * in CPU time too unless it reached 200 ms. The measures are taken inside the flush, so they err
 * the safe way (a shorter flush, longer gaps than the pacer's own). Before, only wall time was
 * counted: here the next flush came 19 t later (about 40 ms, when the pace was 19 t) with nearly no CPU used between.
 */
import { expect, it } from 'vitest';
import { requestFlush } from '../../src/recipes/report-pacing.js';

const SPACING = 39;
const MAX_WAIT_MS = 200;
const FLUSHES = 8;
const FLUSH_COST_MS = 2;

/** The process's CPU time, user and system, in ms. */
function cpu(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Works for `ms`: a listener's cost, which the pacer spaces the next flush by. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

interface Flush {
  start: number;
  end: number;
  startCpu: number;
  endCpu: number;
}

/** FLUSHES flushes one after another, each costing FLUSH_COST_MS, as the pacer lets them run. */
async function pacedFlushes(): Promise<Flush[]> {
  const flushes: Flush[] = [];
  for (let i = 0; i < FLUSHES; i++) {
    await new Promise<void>((resolve) =>
      requestFlush(() => {
        const start = performance.now();
        const startCpu = cpu();
        busy(FLUSH_COST_MS);
        flushes.push({ start, startCpu, end: performance.now(), endCpu: cpu() });
        resolve();
      }),
    );
  }
  return flushes;
}

/** Each gap between one flush's end and the next one's start, and the time the first owed. */
function gapsBetween(flushes: Flush[]): Array<{ owed: number; wall: number; cpu: number }> {
  return flushes.slice(1).map((next, i) => {
    const previous = flushes[i] as Flush;
    return { owed: (previous.end - previous.start) * SPACING, wall: next.start - previous.end, cpu: next.startCpu - previous.endCpu };
  });
}

it('spaces flushes by 39 times their length in CPU time too, up to 200 ms, in an idle process', async () => {
  const gaps = gapsBetween(await pacedFlushes());
  const shown = gaps.map((g) => `owed ${g.owed.toFixed(1)}, wall ${g.wall.toFixed(1)}, CPU ${g.cpu.toFixed(1)} ms`).join('; ');
  expect(gaps.length).toBe(FLUSHES - 1);
  for (const gap of gaps) {
    expect(gap.wall, shown).toBeGreaterThanOrEqual(gap.owed);
    expect(gap.cpu >= gap.owed || gap.wall >= MAX_WAIT_MS, `CPU time owed not used and the wait under ${MAX_WAIT_MS} ms: ${shown}`).toBe(true);
  }
}, 30_000);

it('waits for the CPU time owed at the pace the process uses CPU: a timer or two per flush, not one per fraction of the wait', async () => {
  // A process busy about half the time between flushes (as one serving waiters over a network,
  // idle in its event loop while its server answers). Waited as wall time, the CPU time owed was
  // re-checked again and again, each time with a new timer (and a getrusage), the wait halving each time.
  let stop = false;
  const burn = () => {
    busy(1);
    if (!stop) setTimeout(burn, 1);
  };
  const original = globalThis.setTimeout;
  let pacerTimers = 0;
  globalThis.setTimeout = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    if (callback !== burn) pacerTimers++;
    return original(callback, ms, ...args);
  }) as typeof setTimeout;
  let flushes: Flush[];
  burn();
  try {
    flushes = await pacedFlushes();
  } finally {
    stop = true;
    globalThis.setTimeout = original;
  }
  const gaps = gapsBetween(flushes);
  const shown = `${pacerTimers} timers for ${FLUSHES} flushes; ${gaps.map((g) => `owed ${g.owed.toFixed(1)}, wall ${g.wall.toFixed(1)}, CPU ${g.cpu.toFixed(1)} ms`).join('; ')}`;
  // Still the pace: no flush before its share of wall and CPU time (or the cap).
  for (const gap of gaps) {
    expect(gap.wall, shown).toBeGreaterThanOrEqual(gap.owed);
    expect(gap.cpu >= gap.owed || gap.wall >= MAX_WAIT_MS, shown).toBe(true);
  }
  expect(pacerTimers, shown).toBeLessThanOrEqual(4 * FLUSHES);
}, 30_000);

/**
 * A memory coordinator's feed of a queue (src/backends/memory/follow.ts): changes pass straight
 * through an open link; a frozen link holds them, says the feed is behind, and delivers them in
 * order once thawed. Queue positions rely on that instead of hearing of every confirmed removal.
 */
import { describe, expect, it } from 'vitest';
import type { PrefixFollower, QueueEntry } from '../../src/backends/contract.js';
import { MemoryFaults } from '../../src/backends/memory/faults.js';
import { relayThroughLink } from '../../src/backends/memory/follow.js';
import { connect } from '../../src/index.js';
import { requestFlush } from '../../src/recipes/report-pacing.js';
import { backendOf, type MemoryBackend } from '../../src/testing.js';
import { keysUntil } from '../support/keys-until.js';

function recorder(): { follower: PrefixFollower; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    follower: {
      reset: (entries) => seen.push(`reset ${entries.map((e) => e.key).join(',')}`),
      created: (entry) => seen.push(`created ${entry.key}`),
      deleted: (key) => seen.push(`deleted ${key}`),
      behind: () => seen.push('behind'),
      caughtUp: () => seen.push('caughtUp'),
    },
  };
}

const entry = (key: string): QueueEntry => ({ key, role: 'lock' });
/** Resolves after the promise callbacks queued so far (a thaw's deliveries among them). */
const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('memory feed through a link', () => {
  it('an open link passes every change at once, and never says it is behind', () => {
    const { follower, seen } = recorder();
    const relay = relayThroughLink(new MemoryFaults(), follower);
    relay.created(entry('q/a'));
    relay.deleted('q/a');
    expect(seen).toEqual(['created q/a', 'deleted q/a']);
  });

  it('a frozen link holds the changes, says so once, and delivers them in order after the thaw, then caught up', async () => {
    const faults = new MemoryFaults();
    const { follower, seen } = recorder();
    const relay = relayThroughLink(faults, follower);
    faults.freeze();
    relay.created(entry('q/a'));
    relay.deleted('q/h');
    expect(seen).toEqual(['behind']);
    faults.thaw();
    // Made after the thaw but before the held changes went out: after them, not before.
    relay.deleted('q/a');
    await settled();
    expect(seen).toEqual(['behind', 'created q/a', 'deleted q/h', 'deleted q/a', 'caughtUp']);
    relay.created(entry('q/b'));
    expect(seen.at(-1)).toBe('created q/b');
  });

  it('frozen again before the held changes went out: they wait for the next thaw', async () => {
    const faults = new MemoryFaults();
    const { follower, seen } = recorder();
    const relay = relayThroughLink(faults, follower);
    faults.freeze();
    relay.deleted('q/h');
    faults.thaw();
    faults.freeze();
    await settled();
    expect(seen).toEqual(['behind']);
    faults.thaw();
    await settled();
    expect(seen).toEqual(['behind', 'deleted q/h', 'caughtUp']);
  });

  it("no position is reported that counts a key another coordinator's release removed while the view's link is frozen", async () => {
    const busyFor = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    const [feeder, holderCoord, others] = await Promise.all([connect('memory://'), connect('memory://'), connect('memory://')]);
    const name = `memory-follow/frozen-${process.pid}`;
    const holder = await holderCoord.mutex(name).acquire();
    // The view is fed through the first waiter's coordinator, whose link is frozen below.
    let feederQueued!: () => void;
    const feederIn = new Promise<void>((resolve) => (feederQueued = resolve));
    const feederWait = feeder.mutex(name).acquire({ onQueued: () => feederQueued() });
    await feederIn;
    const aborts = [new AbortController(), new AbortController(), new AbortController()];
    const [x, y, z] = aborts.map((abort) => others.mutex(name).acquire({ signal: abort.signal }));
    await keysUntil(others, name, (keys) => keys.length === 5);
    // Queue: holder, feeder's waiter, x, y, z, w. w's reports, each noted with whether the holder's
    // release had resolved when it was made.
    let released = false;
    let slowOnce = false;
    const reports: { position: number; afterRelease: boolean }[] = [];
    const told = new Map<number, () => void>();
    const toldPosition = (position: number) => new Promise<void>((resolve) => told.set(position, resolve));
    const w = others.mutex(name).acquire({
      onQueued: (position) => {
        reports.push({ position, afterRelease: released });
        told.get(position)?.();
        // A flush that takes 5 ms spaces the next one by about 200 ms (report-pacing.ts): a
        // window in which the holder's release can resolve while a flush is still due.
        if (slowOnce) {
          slowOnce = false;
          busyFor(5);
        }
      },
    });
    await toldPosition(4);
    // x withdraws: w moves to 3, at a flush that takes 5 ms.
    slowOnce = true;
    const three = toldPosition(3);
    aborts[0]!.abort();
    await expect(x).rejects.toMatchObject({ name: 'AbortError' });
    await three;
    // z withdraws: w's 2 is due at the next flush, some 200 ms away.
    aborts[2]!.abort();
    await expect(z).rejects.toMatchObject({ name: 'AbortError' });
    const feederLink = (backendOf(feeder) as MemoryBackend).faults;
    feederLink.freeze();
    // The release resolves through the holder's own link; the view, fed through the frozen one,
    // still shows the holder's key. w has one waiter ahead now (y), the feeder's waiter next in line.
    await holder.release();
    released = true;
    await new Promise<void>((resolve) => requestFlush(resolve)); // the flush that was due has run
    expect(reports.filter((report) => report.afterRelease && report.position > 1)).toEqual([]);
    const one = toldPosition(1);
    feederLink.thaw();
    await one;
    expect(reports.at(-1)).toEqual({ position: 1, afterRelease: true });
    const lease = await feederWait;
    await lease.release();
    aborts[1]!.abort();
    await expect(y).rejects.toMatchObject({ name: 'AbortError' });
    await (await w).release();
    await Promise.all([feeder.close(), holderCoord.close(), others.close()]);
  });
});

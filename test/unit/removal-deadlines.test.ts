/**
 * Removal attempts that bound themselves (`RemovalHost.attemptRemoveWithin`, what the etcd
 * session supplies) are watched by one deadline timer per session instead of an AbortController
 * and a timer each. The guarantees stay: an attempt still running at its deadline is given up on
 * then and tried again; a removal that cannot be confirmed within the TTL ends the session; the
 * session's end stops a removal at once. The host here is a stand-in whose attempts never
 * answer (the generic removal logic is what is tested; the etcd adapter's attempts are exercised
 * against real servers by the conformance suite's frozen-member cases).
 */
import { describe, expect, it } from 'vitest';
import { GuaranteedRemovals } from '../../src/testing.js';
import { until } from '../support/until.js';

/** A host whose attempts hang (or settle as told), recording when each started. */
function hangingHost(ttlMs: number) {
  const session = new AbortController();
  const started: number[] = [];
  let ended = 0;
  const removals = new GuaranteedRemovals({
    signal: session.signal,
    ttlMs,
    attemptRemove: () => Promise.reject(new Error('the signal-taking attempt must not be used when attemptRemoveWithin is given')),
    attemptRemoveWithin: () => {
      started.push(performance.now());
      return new Promise<void>(() => {});
    },
    end: async () => {
      ended++;
      session.abort(new Error('session ended'));
    },
  });
  return { removals, session, started, ended: () => ended };
}

describe('removal attempts that bound themselves', () => {
  it('an attempt unanswered at its deadline is given up on and tried again, and the session ends once the TTL is spent', async () => {
    const host = hangingHost(600);
    const begun = performance.now();
    await host.removals.remove('q/a', 7n);
    const took = performance.now() - begun;
    // Attempts of 250 ms (the floor; a third of the TTL is less), with short pauses between:
    // given up at their deadlines, never waited on for ever.
    expect(host.started.length).toBeGreaterThanOrEqual(2);
    expect((host.started[1] as number) - (host.started[0] as number)).toBeGreaterThanOrEqual(249);
    expect(host.ended()).toBe(1);
    expect(host.removals.endedSessions).toBe(1);
    expect(host.removals.pending).toBe(0);
    // The TTL bounds the whole removal (up to one attempt's deadline; generous for a loaded machine).
    expect(took).toBeGreaterThanOrEqual(599);
    expect(took).toBeLessThan(5000);
  });

  it("the session's end stops a removal whose attempt hangs, without waiting for its deadline", async () => {
    const host = hangingHost(60_000);
    const removal = host.removals.remove('q/b', 8n);
    await until(() => host.started.length > 0, 'the removal attempt started', 10_000);
    const endedAt = performance.now();
    host.session.abort(new Error('lost'));
    await removal;
    // The attempt's deadline was 20 s away.
    expect(performance.now() - endedAt).toBeLessThan(5000);
    expect(host.started).toHaveLength(1);
    expect(host.removals.pending).toBe(0);
  });

  it('attempts of several keys in flight together each end at their own deadline', async () => {
    const session = new AbortController();
    const answers = new Map<string, () => void>();
    const started: string[] = [];
    const removals = new GuaranteedRemovals({
      signal: session.signal,
      ttlMs: 3000,
      attemptRemove: () => Promise.reject(new Error('not used')),
      attemptRemoveWithin: (key) => {
        started.push(key);
        // The first attempt of each key hangs; the next one answers.
        if (started.filter((k) => k === key).length > 1) return Promise.resolve();
        return new Promise<void>((resolve) => answers.set(key, resolve));
      },
      end: async () => {
        session.abort(new Error('ended'));
      },
    });
    const begun = performance.now();
    const settled: string[] = [];
    const first = removals.remove('q/c', 1n).then(() => settled.push('q/c'));
    // An attempt answered in time (q/d) leaves the shared deadline timer to the one still hanging.
    const second = removals.remove('q/d', 2n).then(() => settled.push('q/d'));
    await until(() => answers.has('q/d'), "q/d's attempt started", 10_000);
    answers.get('q/d')?.();
    await Promise.all([first, second]);
    expect(settled).toEqual(['q/d', 'q/c']);
    // q/c's first attempt (deadline 1 s, a third of the TTL) was given up on, then retried.
    expect(performance.now() - begun).toBeGreaterThanOrEqual(999);
    expect(started).toEqual(['q/c', 'q/d', 'q/c']);
    expect(session.signal.aborted).toBe(false);
  });
});

/**
 * Conformance of the optional scan the dashboard uses: every contender key below a prefix, with
 * its parent and session, and a watch that reports the next change. Backends without a scan show
 * a visible skip.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ScannedKey } from '../../src/backends/contract.js';
import type { Coordinator } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';

export function describeScan(target: { open(): Promise<Coordinator> }): void {
  describe('scan (dashboard)', () => {
    it('reads every contender key below a prefix with its parent and session, and reports the next change', async (context) => {
      const [a, b] = await Promise.all([target.open(), target.open()]);
      const backend = backendOf(a);
      if (!backend.scan) return context.skip();
      const prefix = `conformance/scan-${randomUUID().slice(0, 8)}`;
      const lock = await a.mutex(`${prefix}/jobs/nightly`).acquire();
      const permit = await b.semaphore(`${prefix}/pool`, { permits: 2 }).acquire();
      const outside = await a.mutex(`${prefix}-outside`).acquire();
      const stop = new AbortController();
      const watched = await backend.scan(prefix, stop.signal);
      const byKey = new Map(watched.current.keys.map((key) => [key.key, key]));
      expect(byKey.get(lock.key)).toMatchObject({ parent: `${prefix}/jobs/nightly`, revision: lock.token, role: 'lock' });
      expect(byKey.get(permit.key)).toMatchObject({ parent: `${prefix}/pool/leases`, revision: permit.token });
      expect(byKey.has(outside.key)).toBe(false);
      expect(byKey.get(lock.key)?.session).toBeDefined();
      expect(byKey.get(lock.key)?.session).not.toBe(byKey.get(permit.key)?.session);
      await lock.release();
      await watched.changed;
      const after = await backend.scan(prefix, stop.signal);
      expect(after.current.keys.map((key) => key.key)).toEqual([permit.key]);
      stop.abort();
      await Promise.all([permit.release(), outside.release()]);
    });

    it('reports as changes a prefix and name appearing, a waiter queuing and being granted, and a leader\'s new value', async (context) => {
      // The viewer holds nothing, so no change reaches it through a wait or a hold of its own.
      const [viewer, a, b] = await Promise.all([target.open(), target.open(), target.open()]);
      const backend = backendOf(viewer);
      if (!backend.scan) return context.skip();
      const scan = backend.scan.bind(backend);
      const prefix = `conformance/scan-${randomUUID().slice(0, 8)}`;
      const stop = new AbortController();
      let watched = await scan(prefix, stop.signal);
      expect(watched.current.keys).toEqual([]);
      // Scans again after each reported change until `ready` holds; at most 20 changes.
      const until = async (ready: (keys: readonly ScannedKey[]) => boolean, what: string) => {
        for (let changes = 0; !ready(watched.current.keys); changes++) {
          if (changes === 20) throw new Error(`after 20 changes the scan still shows no ${what}: ${JSON.stringify(watched.current.keys.map((key) => key.key))}`);
          await changeOf(watched, what);
          watched = await scan(prefix, stop.signal);
        }
      };

      const leadership = await a.election(`${prefix}/deep/scheduler`).campaign('one');
      await until((keys) => keys.some((key) => key.key === leadership.key && key.value === 'one'), 'leader');
      await leadership.proclaim('two');
      await until((keys) => keys.some((key) => key.key === leadership.key && key.value === 'two'), 'proclaimed value');

      const holder = await a.mutex(`${prefix}/backup`).acquire();
      let queued!: () => void;
      const inLine = new Promise<void>((resolve) => (queued = resolve));
      const waiting = b.mutex(`${prefix}/backup`).acquire({ onQueued: () => queued() });
      waiting.catch(() => {}); // awaited below; a failed step before that must not leave it unhandled
      await inLine;
      // A scan's keys come in any order: the queue is their revisions, lowest first.
      const queue = (keys: readonly ScannedKey[]) =>
        keys.filter((key) => key.parent === `${prefix}/backup`).map((key) => key.revision).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      await until((keys) => queue(keys).length === 2, 'waiter');
      expect(queue(watched.current.keys)[0]).toBe(holder.token);
      await holder.release();
      const granted = await waiting;
      await until((keys) => queue(keys).length === 1, 'release');
      expect(queue(watched.current.keys)).toEqual([granted.token]);

      await Promise.all([granted.release(), leadership.resign()]);
      await until((keys) => keys.length === 0, 'empty prefix');
      stop.abort();
    });
  });
}

/** Waits for a scan's next change, failing with what was awaited if none comes within 10 s. */
async function changeOf(watched: { readonly changed: Promise<void> }, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no change reported within 10 s while waiting for the ${what}`)), 10_000);
  });
  try {
    await Promise.race([watched.changed, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Conformance of the optional scan the dashboard uses: every contender key below a prefix, with
 * its parent and session, and a watch that reports the next change. Backends without a scan show
 * a visible skip.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
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
  });
}

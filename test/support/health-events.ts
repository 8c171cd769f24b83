/**
 * Follows a coordinator's health events for a test: every event is kept, and `next(type, ms)`
 * resolves with the first event of that type (one already seen counts), or rejects after `ms`
 * naming the events that did come.
 */
import type { Coordinator, HealthEvent } from '../../src/index.js';

export interface HealthFollower {
  readonly events: HealthEvent[];
  next(type: HealthEvent['type'], ms: number): Promise<HealthEvent>;
  stop(): void;
}

export function followHealth(coord: Coordinator): HealthFollower {
  const events: HealthEvent[] = [];
  const stop = new AbortController();
  const waiters = new Set<(event: HealthEvent) => void>();
  void (async () => {
    for await (const event of coord.healthChanges({ signal: stop.signal })) {
      events.push(event);
      for (const waiter of [...waiters]) waiter(event);
    }
  })();
  return {
    events,
    stop: () => stop.abort(),
    next(type, ms) {
      const seen = events.find((event) => event.type === type);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${type} event within ${ms} ms; saw ${events.map((e) => e.type).join(', ') || 'none'}`));
        }, ms);
        const check = (event: HealthEvent) => {
          if (event.type !== type) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(event);
        };
        waiters.add(check);
      });
    },
  };
}

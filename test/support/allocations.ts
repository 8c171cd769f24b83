/**
 * What a piece of work allocates besides its requests: AbortControllers and timers (setTimeout),
 * counted by replacing the globals while it runs. Tests of a wait's costs use it; speed and
 * memory themselves are measured by the benchmarks.
 */

export interface Allocations {
  controllers: number;
  timers: number;
}

/** What `run` makes, counted over its whole course and what it leaves to run just after. */
export async function allocationsOf(run: () => Promise<unknown>): Promise<Allocations> {
  const made = { controllers: 0, timers: 0 };
  const OriginalController = globalThis.AbortController;
  const originalSetTimeout = globalThis.setTimeout;
  globalThis.AbortController = class extends OriginalController {
    constructor() {
      super();
      made.controllers++;
    }
  };
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    made.timers++;
    return originalSetTimeout(...args);
  }) as typeof setTimeout;
  try {
    await run();
    // What is left to run just after it resolved counts too.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    globalThis.AbortController = OriginalController;
    globalThis.setTimeout = originalSetTimeout;
  }
  return made;
}

/**
 * The least of each count over `times` runs of `run`: a heartbeat, keep-alive or ping falling
 * inside one run adds its own, which the least leaves out.
 */
export async function leastAllocationsOf(run: () => Promise<unknown>, times = 5): Promise<Allocations> {
  const least = { controllers: Infinity, timers: Infinity };
  for (let i = 0; i < times; i++) {
    const made = await allocationsOf(run);
    least.controllers = Math.min(least.controllers, made.controllers);
    least.timers = Math.min(least.timers, made.timers);
  }
  return least;
}

/**
 * The promises `run` makes (an async_hooks hook, on only while it runs), the least over `times`
 * runs: each promise is an allocation and each reaction a turn of the microtask queue, the
 * bookkeeping an acquire pays besides its requests. (With the hook on, each `await` also counts
 * the promise V8 makes for it, which it otherwise skips: the count is the async steps taken.)
 */
export async function leastPromisesOf(run: () => Promise<unknown>, times = 5): Promise<number> {
  const { createHook } = await import('node:async_hooks');
  let least = Infinity;
  for (let i = 0; i < times; i++) {
    let made = 0;
    const hook = createHook({
      init(_id, type) {
        if (type === 'PROMISE') made++;
      },
    });
    hook.enable();
    try {
      await run();
    } finally {
      hook.disable();
    }
    least = Math.min(least, made);
  }
  return least;
}

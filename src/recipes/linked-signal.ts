/**
 * A child AbortController that aborts with its parents' reason. Cheaper than `AbortSignal.any`,
 * which on Node 20 costs weak references and finalizers per call: this sits on every wait of
 * every acquire. Dispose it to unhook from the parents.
 * @module
 */

export interface LinkedSignal extends Disposable {
  readonly signal: AbortSignal;
}

export function linkSignals(...parents: AbortSignal[]): LinkedSignal {
  const controller = new AbortController();
  const aborted = parents.find((parent) => parent.aborted);
  if (aborted) controller.abort(aborted.reason);
  const onAbort = (event: Event) => controller.abort((event.target as AbortSignal).reason);
  if (!aborted) for (const parent of parents) parent.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      for (const parent of parents) parent.removeEventListener('abort', onAbort);
      // Whatever still waits on this signal (a watch the round no longer needs) ends now.
      if (!controller.signal.aborted) controller.abort(ROUND_OVER);
    },
  };
}

/**
 * The reason a round's leftover waits end with. It never surfaces to callers, so one shared
 * instance serves: building an Error (its stack) per wait was a large part of a handoff's cost.
 */
const ROUND_OVER = Object.freeze(new Error('wait no longer needed'));

export { canAbort, neverAborting } from '../backends/abortable.js';

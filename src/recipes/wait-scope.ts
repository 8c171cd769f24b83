/**
 * The limits of one acquire: the caller's signal and timeout folded into one AbortSignal whose
 * reason is already the error the acquire must reject with.
 * @module
 */
import { AbortError, InvalidArgumentError, TimeoutError } from '../errors.js';
import { checkCallback, checkSignal, checkTimeout, describe } from '../validate.js';
import { neverAborting } from './linked-signal.js';
import type { AcquireOptions } from './types.js';

/** Validated acquire options plus the combined signal. Dispose it when the acquire settles. */
export interface WaitScope extends Disposable {
  /** Aborts with a TimeoutError or an AbortError, whichever limit is hit first. */
  readonly signal: AbortSignal;
  readonly onQueued: ((position: number) => void) | undefined;
  /** Set when nothing can abort the scope (no timeout, no caller signal): its signal is made only if read. */
  readonly unlimited?: true;
}

/** The options an acquire, campaign, read or write accepts. */
export const ACQUIRE_OPTIONS: readonly string[] = ['signal', 'timeoutMs', 'onQueued'];
/** The options a tryAcquire, tryRead or tryWrite accepts. */
export const TRY_OPTIONS: readonly string[] = ['signal', 'timeoutMs'];

/**
 * A scope with no timeout and no caller signal: nothing can abort it. Each read of its `signal`
 * gets a fresh signal that never aborts, which the call it is passed to drops when done, so a long
 * wait keeps none alive (an AbortSignal costs most of a kilobyte of heap: with thousands of
 * waiters that is most of what a waiter costs). Waits recognise it with {@link neverAborting}.
 */
class UnlimitedScope implements WaitScope {
  #signal: AbortSignal | undefined;
  readonly unlimited = true as const;

  constructor(readonly onQueued: ((position: number) => void) | undefined) {}

  // Made when first read and kept: a wait reads its scope's signal several times, and making one
  // each time cost an AbortController per read.
  get signal(): AbortSignal {
    return (this.#signal ??= neverAborting());
  }

  [Symbol.dispose](): void {}
}

/**
 * Checks `options` at the call (throwing InvalidArgumentError) and starts the timeout. A field
 * outside `accepted` is refused: a misspelt `timeout` for `timeoutMs` would otherwise wait for ever.
 */
export function openWaitScope(what: string, options: AcquireOptions | undefined, accepted: readonly string[] = ACQUIRE_OPTIONS): WaitScope {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(`invalid options ${describe(options)}: options must be an object { ${accepted.map((f) => `${f}?`).join(', ')} } or omitted`);
  }
  const unknown = options === undefined ? undefined : Object.keys(options).find((field) => !accepted.includes(field));
  if (unknown !== undefined) {
    const near = accepted.find((field) => field.toLowerCase().startsWith(unknown.toLowerCase().slice(0, 4)));
    throw new InvalidArgumentError(
      `unknown option ${describe(unknown)} in ${what}: accepted options are ${accepted.join(', ')}${near ? ` (did you mean ${near}?)` : ''}`,
    );
  }
  const timeoutMs = checkTimeout(options?.timeoutMs);
  const callerSignal = checkSignal(options?.signal);
  const onQueued = checkCallback<(position: number) => void>(options?.onQueued, 'onQueued');
  if (timeoutMs === undefined && callerSignal === undefined) return new UnlimitedScope(onQueued);
  const controller = new AbortController();
  const onCallerAbort = () =>
    controller.abort(new AbortError(`${what} was aborted`, { cause: callerSignal?.reason }));
  if (callerSignal?.aborted) onCallerAbort();
  else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  // A referenced timer on purpose: a process waiting for a lock must not exit before its timeout.
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => controller.abort(new TimeoutError(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  return {
    signal: controller.signal,
    onQueued,
    [Symbol.dispose]() {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    },
  };
}


/**
 * Opens a scope from `options`, runs `wait` in it and closes the scope when the wait settles;
 * bad options reject (never throw). A promise chain rather than an async function, so that a
 * waiting acquire keeps no suspended frame here: thousands of waiters each keep one less.
 *
 * Recipes call it first thing, before tracing or measuring the acquire: the deadline counts from
 * the call, so nothing done before the wait begins (the OpenTelemetry API loaded on the first
 * acquire, a slow tracing subscriber) can push a rejection past timeoutMs + 250 ms.
 */
export function waitWithin<T>(
  what: string,
  options: AcquireOptions | undefined,
  wait: (scope: WaitScope) => Promise<T>,
  accepted: readonly string[] = ACQUIRE_OPTIONS,
): Promise<T> {
  let scope: WaitScope;
  let waiting: Promise<T>;
  try {
    scope = openWaitScope(what, options, accepted);
  } catch (error) {
    return Promise.reject(error);
  }
  try {
    waiting = wait(scope);
  } catch (error) {
    scope[Symbol.dispose]();
    return Promise.reject(error);
  }
  if (scope instanceof UnlimitedScope) return waiting; // nothing to close
  return waiting.then(
    (value) => {
      scope[Symbol.dispose]();
      return value;
    },
    (error: unknown) => {
      scope[Symbol.dispose]();
      throw error;
    },
  );
}

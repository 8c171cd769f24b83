/**
 * Several locks taken all or nothing, without deadlock: the parts are always acquired in one
 * global order (names sorted by code unit), whatever order the caller lists them in. Two processes
 * asking for {a, b} and {b, a} both queue on `a` first, so neither can hold one part while waiting
 * for a part the other holds: the classic resource-ordering rule (Havender, 1968).
 *
 * Built only on the public recipes, so it runs on every backend. A timeout or abort while waiting
 * for a later part releases the parts already taken before the acquire rejects.
 * @module
 */
import { AbortError, InvalidArgumentError, LeaseLostError, LeaseReleasedError, TimeoutError } from '../errors.js';
import { checkName, checkPermits, checkSignal, checkTimeout, describe } from '../validate.js';
import type { Mutex } from './mutex.js';
import { WITHDRAW_WAIT_MS, waitAtMost } from './queue.js';
import type { ReadWriteLock } from './rwlock.js';
import type { Semaphore } from './semaphore.js';
import type { AcquireOptions, Lease } from './types.js';
import { withHold } from './with-hold.js';

/** One part of a multi-lock: a mutex, a semaphore permit, or a read or write side of a read-write lock. */
export type LockPart =
  | { readonly mutex: string }
  | { readonly semaphore: string; readonly permits: number }
  | { readonly read: string }
  | { readonly write: string };

/** What a multi-lock needs from a coordinator: the recipes its parts are made of. */
export interface RecipeFactory {
  mutex(name: string): Mutex;
  semaphore(name: string, options: { permits: number }): Semaphore;
  readWriteLock(name: string): ReadWriteLock;
}

/** Options of a multi-lock acquire: one timeout and one signal for all parts together. */
export type MultiAcquireOptions = Pick<AcquireOptions, 'signal' | 'timeoutMs'>;

/** A hold on every part of a multi-lock. */
export interface MultiLease extends AsyncDisposable {
  /** The parts' holds, in the order the caller listed the parts. */
  readonly parts: readonly Lease[];
  /** Each part's fencing token, in the order the caller listed the parts. */
  readonly tokens: readonly bigint[];
  /**
   * Aborts when any part is lost (reason: that part's LeaseLostError) or when the whole is
   * released (reason: a LeaseReleasedError).
   */
  readonly signal: AbortSignal;
  /** Releases every part. Idempotent. */
  release(): Promise<void>;
}

interface Planned {
  /** Index in the caller's list. */
  readonly index: number;
  readonly name: string;
  readonly describe: string;
  take(options: AcquireOptions): Promise<Lease>;
}

const ACCEPTED =
  'parts must be a non-empty array of { mutex: name }, { semaphore: name, permits: n }, { read: name } or { write: name }, each name at most once';

/** Several locks acquired together. Get one with `coordinator.multiLock(parts)`. */
export class MultiLock {
  readonly #plan: readonly Planned[];
  readonly #count: number;

  /** @internal */
  constructor(recipes: RecipeFactory, parts: readonly LockPart[]) {
    if (!Array.isArray(parts) || parts.length === 0) throw new InvalidArgumentError(`invalid parts ${describe(parts)}: ${ACCEPTED}`);
    const planned = parts.map((part, index) => planPart(recipes, part as unknown, index));
    const seen = new Map<string, Planned>();
    for (const part of planned) {
      const earlier = seen.get(part.name);
      // Two parts on one name would wait for each other (a writer behind one's own reader).
      if (earlier) throw new InvalidArgumentError(`invalid parts: ${earlier.describe} and ${part.describe} name the same lock; ${ACCEPTED}`);
      seen.set(part.name, part);
    }
    // The global order: every caller takes parts in this order, so no cycle of waits can form.
    this.#plan = planned.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.#count = parts.length;
  }

  /** The parts' names in the order they are taken (sorted), whatever order they were given in. */
  get order(): readonly string[] {
    return this.#plan.map((part) => part.name);
  }

  /**
   * Takes every part, in the global order, and resolves once all are held. Rejects with a
   * TimeoutError or AbortError (after releasing what it had taken) when the limit is hit first.
   */
  async acquire(options?: MultiAcquireOptions): Promise<MultiLease> {
    const { signal, timeoutMs, dispose } = openLimits(options);
    const taken: { index: number; lease: Lease }[] = [];
    const releaseTaken = () => Promise.allSettled(taken.map(({ lease }) => lease.release()));
    // On a timeout or abort the parts taken start their release at once, alongside the
    // withdrawal of the part being waited for: one after the other, the two waits for a
    // confirmation would add up (release() is idempotent: a part is released once).
    let abortedAt: number | undefined;
    const onAbort = () => {
      abortedAt = performance.now();
      void releaseTaken();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (const part of this.#plan) {
        taken.push({ index: part.index, lease: await part.take({ signal }) });
      }
    } catch (error) {
      // Each release is guaranteed and goes on until the key is confirmed gone (or its session
      // ends), but the rejection waits for it at most WITHDRAW_WAIT_MS from the abort, as a
      // withdrawal does: against a backend that does not answer, awaiting it held the rejection
      // for the session's TTL.
      const waitMs = abortedAt === undefined ? WITHDRAW_WAIT_MS : Math.max(0, abortedAt + WITHDRAW_WAIT_MS - performance.now());
      await waitAtMost(releaseTaken(), waitMs);
      throw signal.aborted && signal.reason instanceof TimeoutError
        ? new TimeoutError(`multi-lock acquire of ${this.order.join(', ')} timed out after ${timeoutMs} ms`, { cause: error })
        : error;
    } finally {
      signal.removeEventListener('abort', onAbort);
      dispose();
    }
    const parts = new Array<Lease>(this.#count);
    for (const { index, lease } of taken) parts[index] = lease;
    return new HeldParts(parts);
  }

  /** Runs `fn` while holding every part and releases them all afterwards, also when `fn` throws. */
  withLock<T>(fn: (lease: MultiLease) => T | Promise<T>, options?: MultiAcquireOptions): Promise<T> {
    return withHold('withLock', fn, () => this.acquire(options));
  }
}

class HeldParts implements MultiLease {
  readonly parts: readonly Lease[];
  readonly tokens: readonly bigint[];
  readonly #controller = new AbortController();
  #released: Promise<void> | undefined;

  constructor(parts: readonly Lease[]) {
    this.parts = parts;
    this.tokens = parts.map((part) => part.token);
    for (const part of parts) {
      const onPartEnded = () => {
        const reason: unknown = part.signal.reason;
        if (reason instanceof LeaseLostError) this.#end(reason);
      };
      if (part.signal.aborted) onPartEnded();
      else part.signal.addEventListener('abort', onPartEnded, { once: true });
    }
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  #end(reason: Error): void {
    if (!this.signal.aborted) this.#controller.abort(reason);
  }

  release(): Promise<void> {
    this.#released ??= (async () => {
      this.#end(new LeaseReleasedError(`released ${this.parts.map((part) => part.name).join(', ')}`));
      const results = await Promise.allSettled(this.parts.map((part) => part.release()));
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
    })();
    return this.#released;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

function planPart(recipes: RecipeFactory, part: unknown, index: number): Planned {
  const p = part as Record<string, unknown>;
  const kinds = typeof p === 'object' && p !== null ? ['mutex', 'semaphore', 'read', 'write'].filter((kind) => kind in p) : [];
  if (kinds.length !== 1) throw new InvalidArgumentError(`invalid part ${index} ${describe(part)}: ${ACCEPTED}`);
  const kind = kinds[0] as 'mutex' | 'semaphore' | 'read' | 'write';
  const name = checkName(p[kind], `part ${index} name`);
  const label = `${kind} "${name}"`;
  switch (kind) {
    case 'mutex': {
      const mutex = recipes.mutex(name);
      return { index, name, describe: label, take: (options) => mutex.acquire(options) };
    }
    case 'semaphore': {
      const semaphore = recipes.semaphore(name, { permits: checkPermits(p.permits) });
      return { index, name, describe: label, take: (options) => semaphore.acquire(options) };
    }
    case 'read': {
      const lock = recipes.readWriteLock(name);
      return { index, name, describe: label, take: (options) => lock.read(options) };
    }
    case 'write': {
      const lock = recipes.readWriteLock(name);
      return { index, name, describe: label, take: (options) => lock.write(options) };
    }
  }
}

/** One signal for every part's wait: the caller's abort and one timeout for the whole acquire. */
function openLimits(options: MultiAcquireOptions | undefined) {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError(`invalid options ${describe(options)}: options must be an object { signal?, timeoutMs? } or omitted`);
  }
  const unknown = options ? Object.keys(options).filter((key) => key !== 'signal' && key !== 'timeoutMs') : [];
  if (unknown.length > 0) {
    throw new InvalidArgumentError(`unknown option ${JSON.stringify(unknown[0])}: a multi-lock acquire accepts { signal?, timeoutMs? }`);
  }
  const timeoutMs = checkTimeout(options?.timeoutMs);
  const callerSignal = checkSignal(options?.signal);
  const controller = new AbortController();
  const onCallerAbort = () => controller.abort(new AbortError('multi-lock acquire was aborted', { cause: callerSignal?.reason }));
  if (callerSignal?.aborted) onCallerAbort();
  else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  const timer =
    timeoutMs === undefined ? undefined : setTimeout(() => controller.abort(new TimeoutError(`timed out after ${timeoutMs} ms`)), timeoutMs);
  return {
    signal: controller.signal,
    timeoutMs,
    dispose() {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    },
  };
}

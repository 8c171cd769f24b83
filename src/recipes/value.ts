/**
 * A versioned value with optimistic updates: `update(fn)` reads the value and its revision, computes
 * the new value, and writes it only if nobody wrote in between (a compare-and-set on the revision);
 * on a conflict it reads again and retries, up to a bound, then reports the conflict. No lock is
 * held, so readers and writers never wait for one another; under heavy contention writers retry.
 * @module
 */
import type { Backend, PlainKeys } from '../backends/contract.js';
import { ConflictError, InvalidArgumentError } from '../errors.js';
import { checkName, checkValue, describe } from '../validate.js';
import { plainKeysOf, valueKey } from './plain-keys.js';
import { openWaitScope } from './wait-scope.js';

/** A value as read: its text and the revision of the write that set it. */
export interface ValueState {
  readonly value: string;
  /** Grows with every write to this value (and to any key of the backend: it is store-wide). */
  readonly revision: bigint;
}

/** Options of {@link VersionedValue.update}. */
export interface UpdateOptions {
  /** How many compare-and-set attempts before a ConflictError (default 10, from 1 to 1000). */
  maxAttempts?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** What an update did: the value written, its revision, and how many attempts lost the race. */
export interface UpdateResult extends ValueState {
  readonly attempts: number;
  readonly conflicts: number;
}

const DEFAULT_ATTEMPTS = 10;

/** A value updated by compare-and-set. Get one with `coordinator.value(name)`. */
export class VersionedValue {
  readonly name: string;
  readonly #backend: Backend;
  /** The plain key it lives in, apart from a barrier's of the same name (plain-keys.ts). */
  readonly #key: string;

  /** @internal */
  constructor(backend: Backend, name: string) {
    this.name = checkName(name);
    this.#backend = backend;
    this.#key = valueKey(this.name);
  }

  get #keys(): PlainKeys {
    return plainKeysOf(this.#backend, 'versioned values');
  }

  /** The current value and revision, or undefined if it was never set (or was deleted). */
  async get(options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<ValueState | undefined> {
    using scope = openWaitScope(`read of value "${this.name}"`, options);
    const stored = await this.#keys.read(this.#key, scope.signal);
    return stored && { value: stored.value, revision: stored.revision };
  }

  /**
   * Sets the value to `fn(current)` (current: undefined if unset) only if nobody wrote it since it
   * was read; on a conflict reads again and calls `fn` again. `fn` must be free of side effects: it
   * may run once per attempt. Rejects with ConflictError after `maxAttempts` lost races, and with
   * OutcomeUnknownError when a write's answer was lost (it is never sent twice).
   */
  async update(fn: (current: string | undefined) => string | Promise<string>, options?: UpdateOptions): Promise<UpdateResult> {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`invalid fn ${describe(fn)}: update needs a function (current) => next value`);
    const maxAttempts = checkAttempts(options?.maxAttempts);
    const { maxAttempts: _ignored, ...limits } = options ?? {};
    using scope = openWaitScope(`update of value "${this.name}"`, limits);
    const keys = this.#keys;
    for (let attempt = 1; ; attempt++) {
      const current = await keys.read(this.#key, scope.signal);
      const next = checkValue(await fn(current?.value), 'updated value');
      const written = await keys.write(this.#key, current, next, scope.signal);
      if (written) return { value: written.value, revision: written.revision, attempts: attempt, conflicts: attempt - 1 };
      if (attempt >= maxAttempts) {
        throw new ConflictError(`update of value "${this.name}" lost the race to other writers ${attempt} times (maxAttempts ${maxAttempts})`);
      }
      // Back off a little, at random, so that writers that collided do not collide again in step.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)));
    }
  }

  /** Deletes the value. Resolves to whether there was one. */
  async delete(options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<boolean> {
    using scope = openWaitScope(`delete of value "${this.name}"`, options);
    return this.#keys.delete(this.#key, undefined, scope.signal);
  }
}

function checkAttempts(value: unknown): number {
  if (value === undefined) return DEFAULT_ATTEMPTS;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1000) {
    throw new InvalidArgumentError(`invalid maxAttempts ${describe(value)}: maxAttempts must be an integer from 1 to 1000`);
  }
  return value;
}

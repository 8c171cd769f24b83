/**
 * The one "take it, run, give it back" helper behind every recipe's `with...` method.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { describe } from '../validate.js';
import type { Lease } from './types.js';

/**
 * Checks `fn` at the call, acquires, runs `fn(lease)` and releases afterwards, also when `fn`
 * throws. `method` names the caller for the error message.
 */
export async function withHold<L extends Pick<Lease, 'release'>, T>(method: string, fn: (lease: L) => T | Promise<T>, acquire: () => Promise<L>): Promise<T> {
  if (typeof fn !== 'function') throw new InvalidArgumentError(`invalid fn ${describe(fn)}: ${method} needs a function (lease) => result`);
  const lease = await acquire();
  try {
    return await fn(lease);
  } finally {
    await lease.release();
  }
}

/**
 * Fencing for resources outside the backend. A lock alone cannot guarantee exclusion: a holder
 * that pauses (GC, swap, SIGSTOP) past its TTL still believes it holds while a successor does.
 * The resource must check the holder's token and refuse any token lower than the highest it has
 * accepted. {@link FencingGuard} is that check, for a resource that lives in one process.
 * @module
 */
import { InvalidArgumentError, StaleTokenError } from './errors.js';
import { describe } from './validate.js';

/** Remembers the highest fencing token seen and refuses older ones. */
export class FencingGuard {
  #highest: bigint | undefined;

  /** @param highest the highest token accepted so far, e.g. restored from storage. */
  constructor(highest?: bigint) {
    if (highest !== undefined) this.#highest = checkToken(highest);
  }

  /** The highest token accepted so far, or undefined. Persist it with the resource's state. */
  get highest(): bigint | undefined {
    return this.#highest;
  }

  /**
   * Accepts `token` if it is not lower than any token accepted before (a holder may write many
   * times), and remembers it; throws {@link StaleTokenError} otherwise.
   */
  check(token: bigint): void {
    checkToken(token);
    if (this.#highest !== undefined && token < this.#highest) throw new StaleTokenError(token, this.#highest);
    this.#highest = token;
  }

  /** Like {@link check}, returning false instead of throwing. */
  accepts(token: bigint): boolean {
    try {
      this.check(token);
      return true;
    } catch (error) {
      if (error instanceof StaleTokenError) return false;
      throw error;
    }
  }
}

function checkToken(token: unknown): bigint {
  if (typeof token !== 'bigint' || token < 0n) {
    throw new InvalidArgumentError(`invalid fencing token ${describe(token)}: a token is a non-negative bigint, such as lease.token`);
  }
  return token;
}

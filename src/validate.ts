/**
 * Argument checks made at the call, so bad input fails at once with a message that says what was
 * wrong and what is accepted.
 * @module
 */
import { InvalidArgumentError } from './errors.js';

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
/** Longest accepted name; keeps full keys well inside every backend's key size limit. */
export const MAX_NAME_LENGTH = 200;

/**
 * A lock, semaphore or election name: one or more segments joined by `/`, each made of letters,
 * digits, `.`, `_` and `-` and not starting with `.` or `-` (so `.`, `..` and flag-like names are
 * out). The same name maps to the same keys on every backend.
 */
export function checkName(name: unknown, what = 'name'): string {
  const accepted =
    `${what} must be 1-${MAX_NAME_LENGTH} characters of segments joined by "/", ` +
    'each segment ASCII letters, digits, ".", "_" or "-" and not starting with "." or "-" (e.g. "jobs/nightly-backup")';
  if (typeof name !== 'string') throw new InvalidArgumentError(`invalid ${what} ${describe(name)}: ${accepted}`);
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) {
    // describe() shortens the name: an error about a 10,000-character name must not echo it all.
    throw new InvalidArgumentError(`invalid ${what} ${describe(name)} (length ${name.length}): ${accepted}`);
  }
  for (const segment of name.split('/')) {
    if (!SEGMENT.test(segment)) {
      const part = segment === '' ? 'an empty segment' : `segment ${describe(segment)}`;
      throw new InvalidArgumentError(`invalid ${what} ${describe(name)} (${part}): ${accepted}`);
    }
  }
  return name;
}

/** The last segments a semaphore gives its internal queues: `<name>/locks` (its gate), `<name>/leases` (its permits). */
export const RESERVED_LAST_SEGMENTS: readonly string[] = ['locks', 'leases'];

/**
 * The name of a recipe that queues under its name (mutex, election, read-write lock, semaphore):
 * {@link checkName}, and not ending in `/locks` or `/leases`, which are semaphore internals (the
 * layout Curator's InterProcessSemaphoreV2 uses): `mutex('pool/locks')` would queue with
 * `semaphore('pool')`'s gate, and neither could tell the other's keys from its own.
 */
export function checkQueueName(name: unknown): string {
  const checked = checkName(name);
  const slash = checked.lastIndexOf('/');
  const last = checked.slice(slash + 1);
  if (slash > 0 && RESERVED_LAST_SEGMENTS.includes(last)) {
    const owner = checked.slice(0, slash);
    throw new InvalidArgumentError(
      `invalid name ${describe(checked)}: a name may not end in "/locks" or "/leases": ${describe(checked)} is semaphore ${describe(owner)}'s ` +
        `${last === 'locks' ? 'gate' : 'permit'} queue, and its keys would be taken for this recipe's. Choose another last segment (e.g. ${describe(`${owner}/${last}-main`)})`,
    );
  }
  return checked;
}

/** A permit count: an integer from 1 to 1,000,000. */
export function checkPermits(permits: unknown): number {
  if (typeof permits !== 'number' || !Number.isInteger(permits) || permits < 1 || permits > 1_000_000) {
    throw new InvalidArgumentError(
      `invalid permits ${describe(permits)}: permits must be an integer from 1 to 1000000`,
    );
  }
  return permits;
}

/** A timeout in milliseconds: a finite number >= 0, or undefined for none. */
export function checkTimeout(timeoutMs: unknown): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > 2 ** 31 - 1) {
    throw new InvalidArgumentError(
      `invalid timeoutMs ${describe(timeoutMs)}: timeoutMs must be a finite number of milliseconds from 0 to 2147483647, or omitted for no timeout`,
    );
  }
  return timeoutMs;
}

/** Longest accepted election value, in bytes of UTF-8 (ZooKeeper's default node limit is 1 MiB). */
export const MAX_VALUE_BYTES = 64 * 1024;

/** An election value or proclamation: a string of at most 64 KiB in UTF-8. */
export function checkValue(value: unknown, what = 'value'): string {
  if (typeof value !== 'string') {
    throw new InvalidArgumentError(`invalid ${what} ${describe(value)}: ${what} must be a string of at most ${MAX_VALUE_BYTES} bytes`);
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_VALUE_BYTES) {
    throw new InvalidArgumentError(`invalid ${what}: ${bytes} bytes, at most ${MAX_VALUE_BYTES} are accepted`);
  }
  return value;
}

/** An AbortSignal, or undefined. */
export function checkSignal(signal: unknown, what = 'signal'): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new InvalidArgumentError(`invalid ${what} ${describe(signal)}: ${what} must be an AbortSignal or omitted`);
  }
  return signal;
}

/** A callback, or undefined. */
export function checkCallback<F extends (...args: never[]) => unknown>(fn: unknown, what: string): F | undefined {
  if (fn === undefined) return undefined;
  if (typeof fn !== 'function') {
    throw new InvalidArgumentError(`invalid ${what} ${describe(fn)}: ${what} must be a function or omitted`);
  }
  return fn as F;
}

/** A short rendering of a bad value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/**
 * Errors thrown by Baton. Every error a caller can see is a {@link BatonError}; match on the
 * class, on `name`, or on `code`, a stable string that never changes between versions.
 * @module
 */

/** The stable `code` of each {@link BatonError} subclass. */
export type BatonErrorCode =
  | 'CONFIG'
  | 'INVALID_ARGUMENT'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'SESSION_LOST'
  | 'LEASE_LOST'
  | 'LEASE_RELEASED'
  | 'CLOSED'
  | 'BACKEND'
  | 'OUTCOME_UNKNOWN'
  | 'STALE_TOKEN'
  | 'CONFLICT'
  | 'NAME_CONFLICT'
  | 'CONTACT_LOST';

/** Base class of every error Baton throws. */
export abstract class BatonError extends Error {
  /** A stable identifier of the kind of failure, e.g. `'TIMEOUT'`; see {@link BatonErrorCode}. */
  abstract readonly code: BatonErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration (URL, object or `BATON_BACKEND`) is malformed or names something unknown. */
export class ConfigError extends BatonError {
  readonly code = 'CONFIG';
}

/** An argument (name, permits, timeout, value, option) is invalid. Thrown at the call. */
export class InvalidArgumentError extends BatonError {
  readonly code = 'INVALID_ARGUMENT';
}

/** A call did not succeed within `timeoutMs`. `name` is `'TimeoutError'`. */
export class TimeoutError extends BatonError {
  readonly code = 'TIMEOUT';
}

/** A call was aborted through its `signal`. `name` is `'AbortError'`. */
export class AbortError extends BatonError {
  readonly code = 'ABORTED';
}

/** The backend session was lost: expired, revoked, or out of contact for longer than its TTL. */
export class SessionLostError extends BatonError {
  readonly code = 'SESSION_LOST';
}

/** A hold was lost: its session was lost or its key was deleted by someone else. */
export class LeaseLostError extends BatonError {
  readonly code = 'LEASE_LOST';
}

/** The reason a lease's signal carries after `release()`: not a failure, the hold ended. */
export class LeaseReleasedError extends BatonError {
  readonly code = 'LEASE_RELEASED';
}

/** The coordinator was closed; no further work is accepted. */
export class ClosedError extends BatonError {
  readonly code = 'CLOSED';
}

/** The backend could not be reached or refused a request (connection, auth, TLS). */
export class BackendError extends BatonError {
  readonly code: 'BACKEND' | 'OUTCOME_UNKNOWN' | 'CONTACT_LOST' = 'BACKEND';
}

/**
 * The backend stopped answering for longer than allowed while a watch was open (`observe`):
 * changes may have been missed. Try again once it answers. A `BackendError` too.
 */
export class ContactLostError extends BackendError {
  override readonly code = 'CONTACT_LOST';
}

/**
 * A write was sent but whether the backend applied it cannot be known (its answer was lost).
 * Writes that must happen at most once (guarded writes, `proclaim`) reject with it rather than
 * retry blindly or guess: read the state to find out.
 */
export class OutcomeUnknownError extends BackendError {
  override readonly code = 'OUTCOME_UNKNOWN';
}

/**
 * An optimistic update lost the race to other writers on every attempt it was allowed. Nothing was
 * written by the call; read the value again, or allow more attempts.
 */
export class ConflictError extends BatonError {
  readonly code = 'CONFLICT';
}

/**
 * A name is in use in a way that does not match the call: by another recipe kind (a mutex where a
 * semaphore was asked for, an election where a read-write lock was), or by a semaphore with another
 * number of permits. Nothing was left behind by the call. Give each recipe its own name, and every
 * client of one semaphore the same permits.
 */
export class NameConflictError extends BatonError {
  readonly code = 'NAME_CONFLICT';
}

/** A fencing token older than one already seen was presented to a {@link FencingGuard}. */
export class StaleTokenError extends BatonError {
  readonly code = 'STALE_TOKEN';

  constructor(
    readonly token: bigint,
    readonly highest: bigint,
  ) {
    super(`stale fencing token ${token}: a holder with token ${highest} has already been seen`);
  }
}

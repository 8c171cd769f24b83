/**
 * Errors thrown by Baton. Every error is a {@link BatonError}; match on the class or on `name`.
 * @module
 */

/** Base class of every error Baton throws. */
export class BatonError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration (URL, object or `BATON_BACKEND`) is malformed or names something unknown. */
export class ConfigError extends BatonError {}

/** An argument (name, permits, timeout, value, option) is invalid. Thrown at the call. */
export class InvalidArgumentError extends BatonError {}

/** An acquire or campaign did not succeed within `timeoutMs`. `name` is `'TimeoutError'`. */
export class TimeoutError extends BatonError {}

/** An acquire or campaign was aborted through its `signal`. `name` is `'AbortError'`. */
export class AbortError extends BatonError {}

/** The backend session was lost: expired, revoked, or out of contact for longer than its TTL. */
export class SessionLostError extends BatonError {}

/** A hold was lost: its session was lost or its key was deleted by someone else. */
export class LeaseLostError extends BatonError {}

/** The reason a lease's signal carries after `release()`: not a failure, the hold ended. */
export class LeaseReleasedError extends BatonError {}

/** The coordinator was closed; no further work is accepted. */
export class ClosedError extends BatonError {}

/** The backend could not be reached or refused a request (connection, auth, TLS). */
export class BackendError extends BatonError {}

/** A fencing token older than one already seen was presented to a {@link FencingGuard}. */
export class StaleTokenError extends BatonError {
  constructor(
    readonly token: bigint,
    readonly highest: bigint,
  ) {
    super(`stale fencing token ${token}: a holder with token ${highest} has already been seen`);
  }
}

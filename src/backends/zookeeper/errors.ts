/**
 * ZooKeeper failures as Baton errors that say what failed and, where it can, why.
 * @module
 */
import { BackendError, BatonError, SessionLostError } from '../../errors.js';
import type { ZooKeeperOptions } from './config.js';
import { Code, codeOf } from './connection.js';

/** Turns a ZooKeeper error into a Baton error that says what failed and, where it can, why. */
export function toBatonError(error: unknown, what: string, options: ZooKeeperOptions): Error {
  if (error instanceof BatonError) return error;
  const code = codeOf(error);
  if (code === Code.NO_AUTH) {
    const who = options.auth ? `digest user "${options.auth.username}"` : 'an unauthenticated client';
    return new BackendError(
      `ZooKeeper refused ${what}: not authorised (NoAuth). The node's ACL does not grant ${who} this permission; ` +
        'check the user name and password in the URL (user:pass@) against the identity that created the nodes',
      { cause: error },
    );
  }
  if (code === Code.SESSION_EXPIRED) return new SessionLostError(`ZooKeeper session expired during ${what}`, { cause: error });
  if (code !== undefined) return new BackendError(`ZooKeeper ${what} failed: ${String((error as Error).message ?? error)}`, { cause: error });
  return new BackendError(`ZooKeeper ${what} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

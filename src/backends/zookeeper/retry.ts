/**
 * The one way the ZooKeeper adapter retries: a step that failed with a connection loss is tried
 * again once the client has reconnected to the same session; anything else, and the end of the
 * session, ends the retries with a Baton error. No attempt count: the session's loss deadline
 * bounds the wait (a session that cannot reconnect in time is lost, and `whenConnected` rejects).
 * Only steps that are safe to repeat go through here: reads, and writes whose repetition is
 * harmless or checked (a versioned delete, a create found again by its uuid).
 * @module
 */
import { raceSignal } from '../abortable.js';
import type { ZooKeeperOptions } from './config.js';
import { Code, codeOf, type ZkConnection } from './connection.js';
import { toBatonError } from './errors.js';

export async function retrying<T>(
  conn: ZkConnection,
  what: string,
  options: ZooKeeperOptions,
  step: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    try {
      return await raceSignal(step(), signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (codeOf(error) !== Code.CONNECTION_LOSS) throw toBatonError(error, what, options);
      try {
        await raceSignal(conn.whenConnected(), signal);
      } catch (lost) {
        throw toBatonError(lost, what, options);
      }
    }
  }
}

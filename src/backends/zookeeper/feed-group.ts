/**
 * The coordinators of this process that reach one ZooKeeper ensemble the same way: one position
 * feed per name (./follow.ts) serves all of their waiters, through the session of any one of them.
 *
 * Each coordinator has a session of its own, and gave each name it waited on with positions a
 * persistent watch of its own and a view of the whole queue of its own: with 1,000 waiters over
 * 100 coordinators the server sent every creation and deletion 100 times, and the process kept
 * and updated 100 copies of the queue (issue 11). A group is the queue positions' `followScope`:
 * one view per name for the group, fed by one watch.
 *
 * The feed is no coordinator's: it follows on a session of the group's members, preferring the
 * coordinator that started it, and moves to another member's session when that one's coordinator
 * closes, its session is lost, or it is out of contact (the first member in contact serves).
 * While it moves, the deletions the process knows of (./known-deletions.ts: every release and
 * withdrawal of the process, every deletion a blocker's watch saw) still reach the view, and the
 * new session's listing gives it the whole membership again, so no report counts a waiter whose
 * release already finished here. A waiter's own node and its loss stay its own coordinator's
 * business (its blocker wait and own-node watch, on its own session): the feed only reports.
 *
 * The identity is what decides which nodes a session sees under a name: the servers (as a set;
 * two address lists that reach one ensemble differently are kept apart, which costs a second feed,
 * never a wrong one), the chroot (a name is a path under it) and the credentials (their reads are
 * the user's).
 * @module
 */
import { createHash } from 'node:crypto';
import { ClosedError } from '../../errors.js';
import type { ZooKeeperOptions } from './config.js';
import type { ZkConnection } from './connection.js';

/** A coordinator of a group, as its feeds use it. */
export interface FeedMember {
  /** Its session's connection while that session lives (opens nothing). */
  readonly liveConnection: ZkConnection | undefined;
  /** Its live connection, a new session opened when it has none. */
  connection(): Promise<ZkConnection>;
}

/** The coordinators of the process with one identity (see the module's comment). */
export class FeedGroup {
  readonly #members = new Set<FeedMember>();
  /** Feeds waiting for a member in contact, woken when one joins. */
  readonly #joined = new Set<() => void>();

  /** How many coordinators the group has (for tests). */
  get size(): number {
    return this.#members.size;
  }

  /** Adds `member`; returns its leave, to be called when it closes, before its session ends. */
  join(member: FeedMember, left: () => void): () => void {
    this.#members.add(member);
    for (const wake of [...this.#joined]) wake();
    let gone = false;
    return () => {
      if (gone) return;
      gone = true;
      this.#members.delete(member);
      if (this.#members.size === 0) left();
    };
  }

  /**
   * A session to follow on, for a feed that `first` started: a member's session in contact with
   * the ensemble, `first`'s if it is; else the first one back in contact; else a new session of a
   * member. Rejects with a ClosedError once every member has closed: the feed then ends (its
   * waiters were every one of them a closed coordinator's).
   */
  async connection(first: FeedMember): Promise<ZkConnection> {
    for (;;) {
      const members = this.#members.has(first) ? [first, ...[...this.#members].filter((m) => m !== first)] : [...this.#members];
      if (members.length === 0) throw new ClosedError('every coordinator following this ensemble was closed');
      const live: ZkConnection[] = [];
      for (const member of members) {
        const conn = member.liveConnection;
        if (conn?.connected) return conn;
        if (conn) live.push(conn);
      }
      if (live.length === 0) {
        try {
          return await (members[0] as FeedMember).connection();
        } catch (error) {
          if (error instanceof ClosedError) continue; // it closed meanwhile: another member
          throw error;
        }
      }
      // Every session out of contact: whichever comes back first, or ends, or a new member.
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#joined.delete(wake);
          resolve();
        };
        this.#joined.add(wake);
        for (const conn of live) conn.whenConnected().then(wake, wake);
      });
    }
  }
}

/** The groups of this process, by identity. */
const groups = new Map<string, FeedGroup>();

/** Puts `member`, a coordinator with `options`, in its group; returns the group and the leave. */
export function joinFeedGroup(options: ZooKeeperOptions, member: FeedMember): { group: FeedGroup; leave: () => void } {
  const identity = feedIdentity(options);
  let group = groups.get(identity);
  if (!group) groups.set(identity, (group = new FeedGroup()));
  const joined = group;
  const leave = joined.join(member, () => {
    if (groups.get(identity) === joined) groups.delete(identity);
  });
  return { group: joined, leave };
}

/** A digest of what must match for two coordinators to share feeds (no map key spells out a password). */
function feedIdentity(options: ZooKeeperOptions): string {
  const hash = createHash('sha256');
  const part = (label: string, value: string | undefined) => {
    // Length-prefixed, so that no two different identities run together into the same bytes.
    const bytes = value === undefined ? undefined : Buffer.from(value);
    hash.update(`${label}:${bytes === undefined ? '-' : bytes.length}:`);
    if (bytes !== undefined) hash.update(bytes);
  };
  part('endpoints', [...new Set(options.endpoints)].sort().join(','));
  part('chroot', options.chroot);
  part('user', options.auth?.username);
  part('password', options.auth?.password);
  return hash.digest('hex');
}

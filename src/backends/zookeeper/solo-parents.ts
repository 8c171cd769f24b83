/**
 * Queue parents where this backend's last enqueue found itself alone, and the sequence its next
 * node there should get. A process that takes and releases a lock nobody else wants enqueues under
 * a parent where nobody else created a child since its last create: the server numbers a parent's
 * children in the order they are created (the sequence counts creates, not deletes: measured on
 * ZooKeeper 3.8), so the next node's name is known before the create is sent.
 * The enqueue then sends the own-node watch right behind the create instead of after its answer,
 * and the parent's Stat instead of the listing (one child, with the name guessed right: alone): an
 * uncontended acquire costs the create, the watch and the parent's Stat in one write, and the
 * release one delete. A wrong guess (someone else changed the parent) costs a read that finds no
 * node and sets no watch, and a listing. Shared by every session of one backend, since parents
 * outlive sessions.
 * @module
 */

/** Parents remembered at most; a process using very many names forgets and learns again. */
const MAX_REMEMBERED = 10_000;

export class SoloParents {
  readonly #next = new Map<string, number>();

  /** The sequence the next node under `parent` should get, when the last enqueue there was alone. */
  expected(parent: string): number | undefined {
    return this.#next.get(parent);
  }

  /** The last enqueue under `parent` found its node, numbered `sequence`, the only child. */
  noteAlone(parent: string, sequence: number): void {
    if (this.#next.size >= MAX_REMEMBERED && !this.#next.has(parent)) this.#next.clear();
    // A signed 32-bit counter (see naming.ts): it wraps.
    this.#next.set(parent, (sequence + 1) | 0);
  }

  /** Others queue under `parent` too: list around the create there again. */
  noteCrowded(parent: string): void {
    this.#next.delete(parent);
  }
}

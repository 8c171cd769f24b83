/**
 * Queue parents where this backend's last enqueue found its node alone. A process that takes and
 * releases a lock nobody else wants enqueues again and again under a parent with no other child:
 * there the enqueue's listing, sent behind the create, also sets a child watch on the parent, which
 * serves as the new node's own deletion watch while it stays alone (any change of the children
 * fires it, the node's deletion among them). An uncontended acquire then costs the create and the
 * listing, in one write, and the release one delete: no watch request of its own. Elsewhere the
 * listing sets no watch, so a busy queue's changes wake nobody who is not waiting for them. Shared
 * by every session of one backend, since parents outlive sessions.
 * @module
 */

import { BoundedSet } from '../bounded-set.js';

/** Parents remembered at most; a process using very many names forgets the oldest and learns again. */
const MAX_REMEMBERED = 10_000;

export class SoloParents {
  readonly #alone = new BoundedSet<string>(MAX_REMEMBERED);

  /** Whether the last enqueue under `parent` found its node the only child. */
  wasAlone(parent: string): boolean {
    return this.#alone.has(parent);
  }

  /** The last enqueue under `parent` found its node the only child. */
  noteAlone(parent: string): void {
    this.#alone.add(parent);
  }

  /** Others queue under `parent` too: list without a watch there. */
  noteCrowded(parent: string): void {
    this.#alone.delete(parent);
  }
}

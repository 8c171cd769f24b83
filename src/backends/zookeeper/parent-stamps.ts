/**
 * Which queue parents an enqueue may stamp. Enqueue under a parent that carries no data is a
 * multi of the create and an empty setData on the parent, whose new `mzxid` is then the new node's
 * czxid: the exact token in one round trip. A parent that carries data (another client's) or that
 * this identity may not write (its ACL) is never stamped: enqueue lists around the create instead.
 * Shared by every session of one backend, since parents outlive sessions.
 * @module
 */

/** Parents remembered at most; a process using very many names forgets and learns again. */
const MAX_REMEMBERED = 10_000;

export class ParentStamps {
  readonly #empty = new Set<string>();
  readonly #unwritable = new Set<string>();

  /** Whether `parent` was last seen carrying no data, and may be written. */
  stampable(parent: string): boolean {
    return this.#empty.has(parent);
  }

  /** `parent` was seen carrying no data. */
  noteEmpty(parent: string): void {
    if (this.#unwritable.has(parent)) return;
    if (this.#empty.size >= MAX_REMEMBERED) this.#empty.clear();
    this.#empty.add(parent);
  }

  /** `parent` carries data, or went missing: list around the create until it is seen empty again. */
  forget(parent: string): void {
    this.#empty.delete(parent);
  }

  /** This identity may create children under `parent` but not write it: never stamp it. */
  noteUnwritable(parent: string): void {
    this.#empty.delete(parent);
    if (this.#unwritable.size >= MAX_REMEMBERED) this.#unwritable.clear();
    this.#unwritable.add(parent);
  }
}

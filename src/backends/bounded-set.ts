/**
 * A set of at most `capacity` members that forgets its oldest first. For what a process remembers
 * only to do better (save a read, apply a deletion sooner): a member forgotten costs that, never a
 * wrong answer, and memory stays bounded however many names a process uses.
 * @module
 */
export class BoundedSet<T> {
  readonly #members = new Set<T>();

  constructor(readonly capacity: number) {}

  /** Adds `member` as the newest (moving it there if it was a member); beyond the capacity the oldest goes. */
  add(member: T): void {
    this.#members.delete(member);
    this.#members.add(member);
    if (this.#members.size > this.capacity) this.#members.delete(this.#members.values().next().value as T);
  }

  has(member: T): boolean {
    return this.#members.has(member);
  }

  /** Forgets `member`; resolves to whether it was remembered. */
  delete(member: T): boolean {
    return this.#members.delete(member);
  }

  get size(): number {
    return this.#members.size;
  }
}

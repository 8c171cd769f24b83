import { describe, expect, it } from 'vitest';
import { BoundedSet } from '../../src/backends/bounded-set.js';

describe('BoundedSet', () => {
  it('keeps at most its capacity, forgetting the oldest first', () => {
    const set = new BoundedSet<string>(3);
    for (const member of ['a', 'b', 'c', 'd']) set.add(member);
    expect(set.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].filter((member) => set.has(member))).toEqual(['b', 'c', 'd']);
  });

  it('counts a member added again as the newest', () => {
    const set = new BoundedSet<string>(2);
    set.add('a');
    set.add('b');
    set.add('a');
    set.add('c');
    expect([set.has('a'), set.has('b'), set.has('c')]).toEqual([true, false, true]);
    expect(set.delete('a')).toBe(true);
    expect(set.delete('a')).toBe(false);
    expect(set.size).toBe(1);
  });
});

describe('BoundedSet against a plain model', () => {
  /** The rule written the simplest way: an array, newest last. */
  class Model {
    members: string[] = [];
    constructor(readonly capacity: number) {}
    add(member: string) {
      this.members = this.members.filter((m) => m !== member);
      this.members.push(member);
      if (this.members.length > this.capacity) this.members.shift();
    }
    delete(member: string) {
      const had = this.members.includes(member);
      this.members = this.members.filter((m) => m !== member);
      return had;
    }
  }

  it('agrees with the model over many adds, re-adds and deletes (every answer, every step)', () => {
    // A fixed pseudo-random sequence (a linear congruential generator), so a failure repeats.
    let seed = 12345;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (const capacity of [1, 2, 5, 64]) {
      const set = new BoundedSet<string>(capacity);
      const model = new Model(capacity);
      for (let step = 0; step < 4000; step++) {
        const member = `k${next(capacity * 3)}`;
        const op = next(10);
        if (op < 6) {
          set.add(member);
          model.add(member);
        } else if (op < 8) {
          expect(set.delete(member)).toBe(model.delete(member));
        } else {
          expect(set.has(member)).toBe(model.members.includes(member));
        }
        expect(set.size).toBe(model.members.length);
      }
      for (let i = 0; i < capacity * 3; i++) expect(set.has(`k${i}`)).toBe(model.members.includes(`k${i}`));
    }
  });

  it('keeps forgetting the oldest when every add is a new member, far past its capacity', () => {
    const set = new BoundedSet<number>(100);
    for (let i = 0; i < 100_000; i++) set.add(i);
    expect(set.size).toBe(100);
    expect(set.has(99_899)).toBe(false);
    expect(set.has(99_900)).toBe(true);
    expect(set.has(99_999)).toBe(true);
  });
});

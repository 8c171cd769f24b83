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

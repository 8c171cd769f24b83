import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nodeNamePrefix, roleOf, sequenceOf } from '../../src/backends/zookeeper/naming.js';
import type { Role } from '../../src/backends/contract.js';

// The readings by their definitions: a sequence is the name's end matching one of these patterns,
// and a role is the first of these markers the name contains ('lock' when none).
const definedSequence = (name: string): number | undefined => {
  if (/[-_]-[12]\d{9}$/.test(name)) return Number(name.slice(-11));
  const match = /(?:\d{10}|-\d{9})$/.exec(name);
  return match ? Number(match[0]) : undefined;
};
const MARKERS: Array<[string, Role]> = [['__READ__', 'read'], ['__WRIT__', 'write'], ['__rlock__', 'read'], ['-latch-', 'latch'], ['-lease-', 'lease']];
const definedRole = (name: string): Role => MARKERS.find(([marker]) => name.includes(marker))?.[1] ?? 'lock';

const ROLES: Role[] = ['lock', 'latch', 'lease', 'read', 'write'];
const SEQUENCES = ['0000000000', '0000000012', '2147483647', '1500000000', '-000000001', '-999999999', '-2147483648', '-1500000000', '-1000000000', '000000012', '00000000x1', '', '-', '--000000001', '3000000000', '-3000000000'];
const UUID = randomUUID();

/** Names of Baton's layout and of others', with every sequence shape, and bent ones. */
function names(): string[] {
  const all: string[] = [];
  const stems = [
    ...ROLES.map((role) => nodeNamePrefix(UUID, role)),
    ...ROLES.map((role) => nodeNamePrefix(UUID.toUpperCase(), role)),
    ...ROLES.map((role) => nodeNamePrefix(UUID.slice(1), role)),
    `_c_${UUID.slice(0, 30)}__READ-lock-`,
    `_c_${'-'.repeat(36)}-lock-`,
    `_c_${UUID}-lock-__WRIT__`,
    `_c_${UUID}-__READ__-latch-`,
    '0123__rlock__',
    'abc__lock__',
    'something-else-',
    'locks',
    'x',
    '',
    '_c_',
    `_c_${UUID}`,
  ];
  for (const stem of stems) for (const sequence of SEQUENCES) all.push(stem + sequence);
  return all;
}

describe('ZooKeeper node names', () => {
  it('reads every sequence and role as their definitions do, for Baton names and any other', () => {
    const all = names();
    expect(all.length).toBeGreaterThan(400);
    for (const name of all) {
      expect(sequenceOf(name), name).toBe(definedSequence(name));
      expect(roleOf(name), name).toBe(definedRole(name));
    }
  });

  it('reads the role of each of its own layouts', () => {
    for (const role of ROLES) expect(roleOf(`${nodeNamePrefix(randomUUID(), role)}0000000042`)).toBe(role);
  });
});

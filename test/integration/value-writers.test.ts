/**
 * Optimistic updates from 8 writer processes on one versioned value lose no update: every
 * increment lands, and the conflicts the writers retried are reported. Real ZooKeeper; each
 * writer is its own node process using the built package.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

const WRITER = `
const { connect } = await import(process.env.BATON_DIST);
const coord = await connect(process.env.BATON_BACKEND);
let conflicts = 0;
for (let i = 0; i < Number(process.env.INCREMENTS); i++) {
  const result = await coord.value(process.env.VALUE_NAME).update((current) => String(Number(current ?? '0') + 1), { maxAttempts: 1000 });
  conflicts += result.conflicts;
}
await coord.close();
console.log(JSON.stringify({ conflicts }));
`;

function writer(env: Record<string, string>): Promise<{ conflicts: number }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', WRITER], { env: { ...process.env, ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`writer failed: ${stderr || error.message}`));
      else resolve(JSON.parse(stdout.trim()) as { conflicts: number });
    });
  });
}

let zookeeper: ZooKeeperServers | undefined;
beforeAll(async () => {
  zookeeper = await startZooKeeper();
});
afterAll(async () => {
  await zookeeper?.stop();
});

describe('versioned value with 8 writer processes', () => {
  it('loses no update on ZooKeeper', async (context) => {
    if (!zookeeper) return context.skip();
    const name = `values/counter-${randomUUID().slice(0, 8)}`;
    const env = { BATON_DIST: DIST, BATON_BACKEND: zookeeper.url({ chroot: '/values-test' }), VALUE_NAME: name, INCREMENTS: '10' };
    const results = await Promise.all(Array.from({ length: 8 }, () => writer(env)));
    const reader = await connect(env.BATON_BACKEND);
    const final = await reader.value(name).get();
    await reader.close();
    expect(final?.value).toBe('80');
    const conflicts = results.reduce((sum, r) => sum + r.conflicts, 0);
    console.log(`8 writers x 10 increments: final 80, ${conflicts} conflicts retried`);
  });
});

/**
 * The use-case examples run as written, on the embedded default and, through BATON_BACKEND, on a
 * real etcd and ZooKeeper started for this file; each one's output is checked, not only its exit.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdServers, startEtcd } from '../support/etcd-server.js';
import { startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

const examples: Record<string, RegExp[]> = {
  'scheduled-job.mjs': [/slots: 4, runs: 4, each slot exactly once: yes/],
  'inventory.mjs': [/sold: 10, sold out for: 2, stock left: 0/, /no lost update, no oversell: yes/],
  'checkpoint-writer.mjs': [/delayed write of step 100 was refused as stale/, /checkpoint on disk: weights at step 200/],
  'gpu-slots.mjs': [/unet +waiting, 3 ahead/, /at most 2 at once on 2 GPUs; served in request order: yes/],
  'agent-memory.mjs': [/notes in memory: 12 of 12; tokens increase note after note: yes/],
  'user-sessions.mjs': [/every update kept: yes; one update at a time per user: yes/],
};

function run(example: string, backend: string | undefined): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = fileURLToPath(new URL(`../../examples/use-cases/${example}`, import.meta.url));
  const env = { ...process.env };
  if (backend) env.BATON_BACKEND = backend;
  else delete env.BATON_BACKEND;
  return new Promise((resolve) => {
    execFile(process.execPath, [file], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let etcd: EtcdServers | undefined;
let zookeeper: ZooKeeperServers | undefined;
beforeAll(async () => {
  [etcd, zookeeper] = await Promise.all([startEtcd(), startZooKeeper()]);
});
afterAll(async () => {
  await Promise.all([etcd?.stop(), zookeeper?.stop()]);
});

const backends: [string, () => string | undefined][] = [
  ['the embedded default', () => undefined],
  ['etcd', () => etcd?.url()],
  ['ZooKeeper', () => zookeeper?.url({ chroot: '/examples' })],
];

describe.each(backends)('use-case examples on %s', (label, url) => {
  for (const [example, expected] of Object.entries(examples)) {
    it(`${example} runs and shows what it promises`, async (context) => {
      const backend = url();
      if (label !== 'the embedded default' && !backend) return context.skip();
      const result = await run(example, backend);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      for (const line of expected) expect(result.stdout).toMatch(line);
    });
  }
});

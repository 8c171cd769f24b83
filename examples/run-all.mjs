// Runs every example in this folder on the embedded default backend, one after the other.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const examples = [
  'fair-queue.mjs',
  'leader-election.mjs',
  'use-cases/scheduled-job.mjs',
  'use-cases/inventory.mjs',
  'use-cases/checkpoint-writer.mjs',
  'use-cases/gpu-slots.mjs',
  'use-cases/agent-memory.mjs',
  'use-cases/user-sessions.mjs',
];
for (const example of examples) {
  console.log(`\n=== examples/${example} ===`);
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(example, import.meta.url))], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`examples/${example} failed with exit code ${result.status}`);
    process.exit(1);
  }
}

// Runs every example in this folder on the embedded default backend, one after the other.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

for (const example of ['fair-queue.mjs', 'leader-election.mjs']) {
  console.log(`\n=== examples/${example} ===`);
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(example, import.meta.url))], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`examples/${example} failed with exit code ${result.status}`);
    process.exit(1);
  }
}

/**
 * The test processes' watchdog (test/support/loop-watchdog.mjs): a process whose event loop stops
 * for good, busy, is reported, with where it is stuck, and killed; a process that waits (with its
 * loop running, or asleep in a synchronous child run) is left alone.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const WATCHDOG = fileURLToPath(new URL('../support/loop-watchdog.mjs', import.meta.url));

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Runs `body` in a child with the watchdog at `stuckMs`; resolves to how it ended and its stderr. */
async function runWatched(body: string, stuckMs: number): Promise<{ signal: string | null; code: number | null; stderr: string; reportDir: string }> {
  const reportDir = mkdtempSync(join(tmpdir(), 'baton-watchdog-'));
  dirs.push(reportDir);
  const script = `
    import { startLoopWatchdog } from ${JSON.stringify(WATCHDOG)};
    startLoopWatchdog({ stuckMs: ${stuckMs}, reportDir: ${JSON.stringify(reportDir)} });
    ${body}
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  return { signal, code, stderr, reportDir };
}

describe('loop watchdog of the test processes', () => {
  it('kills a process whose JavaScript never yields, and says in which function', async () => {
    const started = performance.now();
    const result = await runWatched('function spinForever() { for (;;) {} }\nsetTimeout(spinForever, 50);', 1000);
    expect(result.signal).toBe('SIGKILL');
    // Well before the child's own 50 s limit: the watchdog did it.
    expect(performance.now() - started).toBeLessThan(40_000);
    expect(result.stderr).toContain('ran no event loop for');
    expect(result.stderr).toMatch(/JavaScript stack of the main thread:\n\s+at spinForever/);
    const reported = readFileSync(join(result.reportDir, `stuck-${/pid (\d+)/.exec(result.stderr)?.[1]}.txt`), 'utf8');
    expect(reported).toContain('spinForever');
  }, 60_000);

  it('leaves a process alone whose event loop waits for a synchronous child run longer than the limit (it sleeps, it does not spin)', async () => {
    const result = await runWatched(
      // Then it runs on for a while: a watchdog that took the wait for a spin would kill it meanwhile.
      "import { execFileSync } from 'node:child_process';\nawait new Promise((resolve) => setTimeout(resolve, 500));\nexecFileSync('sleep', ['6']);\nawait new Promise((resolve) => setTimeout(resolve, 8000));",
      1000,
    );
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain('loop-watchdog');
    expect(readdirSync(result.reportDir)).toEqual([]);
  }, 60_000);

  it('leaves a process alone that waits longer than the limit with its event loop running', async () => {
    const result = await runWatched('await new Promise((resolve) => setTimeout(resolve, 3000));', 1000);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain('loop-watchdog');
    expect(readdirSync(result.reportDir)).toEqual([]);
  }, 60_000);
});

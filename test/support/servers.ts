/**
 * Shared plumbing for tests that need a real server: free loopback ports, temp dirs, child
 * processes that are always stopped, and the rule that a missing server is a visible skip
 * locally but a failure under CI=true.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when running under CI, where a missing server must fail the run instead of skipping. */
export const isCI = process.env.CI === 'true' || process.env.CI === '1';

/** A free TCP port on 127.0.0.1, as the kernel hands one out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A fresh temp directory, removed by the returned cleanup. */
export async function tempDir(label: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `baton-${label}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/**
 * Called when a server cannot be had. Under CI this throws (the run fails); locally it logs the
 * reason and returns undefined, so the caller's `describe.skipIf` shows a visible skip.
 */
export function serverUnavailable(what: string, reason: string): undefined {
  const message = `${what} is not available: ${reason}`;
  if (isCI) throw new Error(`${message} (CI=true: integration tests never skip)`);
  console.warn(`SKIPPING ${what} tests: ${message}`);
  return undefined;
}

/** Starts a child process whose output is kept (last 64 KiB) for error messages. */
export function startProcess(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-65536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output: () => output };
}

/** Kills a child process at once (SIGKILL), as a crash would. Resolves once it has exited. */
export async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}

/** Stops every process of a cluster that is still running (members stopped earlier are undefined). */
export async function stopAll(processes: readonly (ReturnType<typeof startProcess> | undefined)[]): Promise<void> {
  await Promise.all(processes.map((proc) => (proc ? stopProcess(proc.child) : undefined)));
}

/** Stops a child process: SIGTERM, then SIGKILL after `graceMs`. Resolves once it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGCONT');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Polls `probe` every 100 ms until it reports the server ready. Fails at once when the server's
 * process has exited, and after `deadlineMs` otherwise, with the process's output either way.
 * Polling on purpose: a child server process offers no event to wait on from here.
 */
export async function waitUntilServing(
  what: string,
  process: () => ReturnType<typeof startProcess> | undefined,
  probe: () => Promise<{ ready: boolean; detail?: string }>,
  deadlineMs: number,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const { ready, detail = '' } = await probe();
    if (ready) return;
    const proc = process();
    if (!proc || proc.child.exitCode !== null) throw new Error(`${what} exited:\n${proc?.output() ?? ''}`);
    if (Date.now() > deadline) throw new Error(`${what} not serving within ${deadlineMs} ms:\n${detail}\n${proc.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Freezes a test-owned server with SIGSTOP and returns once every one of its threads is stopped.
 * kill() returns when the signal is sent, not when it has taken effect: on a loaded machine a JVM
 * was seen answering a request sent after kill('SIGSTOP') had returned.
 */
export function freezeProcess(child: ChildProcess, boundMs = 2000): void {
  child.kill('SIGSTOP');
  const pid = child.pid;
  if (pid === undefined) return;
  const giveUpAt = performance.now() + boundMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!allThreadsStopped(pid)) {
    if (performance.now() > giveUpAt) throw new Error(`process ${pid} not stopped ${boundMs} ms after SIGSTOP`);
    Atomics.wait(pause, 0, 0, 1);
  }
}

/** Whether every thread of `pid` is in state T (stopped) or t, per /proc. */
function allThreadsStopped(pid: number): boolean {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return true; // no /proc (or the process is gone): nothing more to wait for
  }
  return tasks.every((task) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return state === 'T' || state === 't';
    } catch {
      return true; // the thread exited
    }
  });
}

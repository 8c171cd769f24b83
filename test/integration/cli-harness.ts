/**
 * Running the built `baton` command in tests: processes whose output lines are events to wait
 * on, and which are always stopped at the end.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BATON_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** Builds dist/ when it is missing (`npm test` builds first; a single-file run may not have). */
export function ensureBuilt(): void {
  if (existsSync(BATON_MAIN)) return;
  try {
    execFileSync(process.execPath, [`${ROOT}/node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  } catch {
    // Type errors elsewhere still emit; only a missing entry point matters here.
  }
  if (!existsSync(BATON_MAIN)) throw new Error(`could not build ${BATON_MAIN}: run npm run build`);
}

type Stream = 'stdout' | 'stderr';

/** One process started by a test, with its output kept and searchable as it arrives. */
export class Proc {
  readonly child: ChildProcessWithoutNullStreams;
  readonly output: Record<Stream, string> = { stdout: '', stderr: '' };
  readonly exited: Promise<number>;
  #listeners = new Set<() => void>();
  #done = false;

  constructor(command: string, args: readonly string[], env: NodeJS.ProcessEnv, readonly label: string) {
    this.child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin.on('error', () => {});
    for (const stream of ['stdout', 'stderr'] as const) {
      this.child[stream].on('data', (chunk: Buffer) => {
        this.output[stream] += chunk.toString();
        for (const listener of [...this.#listeners]) listener();
      });
    }
    this.exited = new Promise((resolve) => {
      // 'close' comes after the output streams ended, so every line has been seen.
      this.child.once('close', (code, signal) => {
        this.#done = true;
        for (const listener of [...this.#listeners]) listener();
        resolve(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? -1));
      });
    });
  }

  get done(): boolean {
    return this.#done;
  }

  /** Resolves with the first match of `pattern` in `stream`; rejects if the process ends without one. */
  waitFor(stream: Stream, pattern: RegExp): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.output[stream]);
        if (match) {
          this.#listeners.delete(check);
          resolve(match);
        } else if (this.#done) {
          this.#listeners.delete(check);
          reject(new Error(`${this.label} ended without ${pattern} on ${stream}.\nstdout: ${this.output.stdout}\nstderr: ${this.output.stderr}`));
        }
      };
      this.#listeners.add(check);
      check();
    });
  }

  /** Writes a line to the process's stdin (a child under baton inherits it). */
  send(line = ''): void {
    this.child.stdin.write(`${line}\n`);
  }

  signal(name: NodeJS.Signals): void {
    if (!this.#done) this.child.kill(name);
  }

  describe(): string {
    return `${this.label}\nstdout: ${this.output.stdout}\nstderr: ${this.output.stderr}`;
  }
}

/** Starts processes and stops every one still running at cleanup, plus any pids handed to it. */
export class Procs {
  readonly #all = new Set<Proc>();
  readonly #pids = new Set<number>();

  baton(args: readonly string[], env: NodeJS.ProcessEnv, label = `baton ${args.join(' ')}`): Proc {
    const proc = new Proc(process.execPath, [BATON_MAIN, ...args], env, label);
    this.#all.add(proc);
    return proc;
  }

  run(command: string, args: readonly string[], env: NodeJS.ProcessEnv, label = `${command} ${args.join(' ')}`): Proc {
    const proc = new Proc(command, args, env, label);
    this.#all.add(proc);
    return proc;
  }

  /** A process the test learned about (an orphaned child); killed at cleanup if still alive. */
  adopt(pid: number): void {
    this.#pids.add(pid);
  }

  async cleanup(): Promise<void> {
    for (const pid of this.#pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.#pids.clear();
    await Promise.all(
      [...this.#all].map(async (proc) => {
        proc.signal('SIGCONT');
        proc.signal('SIGKILL');
        // A child left behind by a killed baton reads the same stdin: EOF ends it.
        proc.child.stdin.end();
        await proc.exited;
      }),
    );
    this.#all.clear();
  }
}

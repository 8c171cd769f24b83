/**
 * Peer programs for interop and fault tests: Curator (Java, compiled here with javac against the
 * Debian jars), kazoo (Python) and a Baton process (node importing the built dist/). Each speaks
 * lines on stdout (READY, WAITING, HELD ..., LEADER ..., LOST ...) that tests wait for as events.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend, QueueEntry } from '../../src/backends/contract.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const JARS = '/usr/share/java';
/** Curator's jars; their manifests name the rest (guava, slf4j-api, zookeeper, jute). */
export const CURATOR_JARS = ['curator-recipes', 'curator-framework', 'curator-client', 'slf4j-nop'].map((jar) => `${JARS}/${jar}.jar`);

/** Why Curator cannot be used here, or undefined when it can. */
export function curatorMissing(): string | undefined {
  for (const jar of CURATOR_JARS) if (!existsSync(jar)) return `${jar} is missing (Debian libcurator-recipes-java)`;
  try {
    execFileSync('javac', ['-version'], { stdio: 'pipe' });
  } catch {
    return 'javac is missing (a JDK)';
  }
  return undefined;
}

/** Why kazoo cannot be used here, or undefined when it can. */
export function kazooMissing(): string | undefined {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import kazoo'], { stdio: 'pipe' });
    return undefined;
  } catch {
    return '/usr/bin/python3 cannot import kazoo (Debian python3-kazoo)';
  }
}

/** Compiles CuratorPeer.java; returns the classpath to run it with and a cleanup. */
export function compileCurator(): { classpath: string; remove(): void } {
  const out = mkdtempSync(join(tmpdir(), 'baton-curator-'));
  execFileSync('javac', ['-d', out, '-cp', CURATOR_JARS.join(':'), join(HERE, 'CuratorPeer.java')], { stdio: 'pipe' });
  return { classpath: [out, ...CURATOR_JARS].join(':'), remove: () => rmSync(out, { recursive: true, force: true }) };
}

/** Builds dist/ when it is missing, for Baton peer processes. */
export function ensureDist(): void {
  if (existsSync(join(ROOT, 'dist/index.js'))) return;
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  } catch {
    // type errors elsewhere still emit
  }
  if (!existsSync(join(ROOT, 'dist/index.js'))) throw new Error('dist/index.js is missing: run npm run build');
}

/** A peer process whose stdout lines are events. */
export class Peer {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: string[] = [];
  #stderr = '';
  #waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;

  constructor(
    readonly label: string,
    command: string,
    args: string[],
  ) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin.on('error', () => {});
    let partial = '';
    this.child.stdout.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts.map((line) => line.trim()).filter(Boolean));
      for (const wake of [...this.#waiters]) wake();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-8000);
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        for (const wake of [...this.#waiters]) wake();
        resolve(code);
      }),
    );
  }

  /** Resolves with the first line (seen so far or later) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = this.lines.find((l) => pattern.test(l));
        if (line !== undefined) {
          done();
          resolve(line);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`${this.label} exited before printing ${pattern}: stdout ${JSON.stringify(this.lines)}, stderr ${this.#stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.label} did not print ${pattern} within ${timeoutMs} ms: stdout ${JSON.stringify(this.lines)}, stderr ${this.#stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  has(pattern: RegExp): boolean {
    return this.lines.some((line) => pattern.test(line));
  }

  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

export function curatorPeer(classpath: string, connectString: string, ...args: string[]): Peer {
  return new Peer(`curator ${args.join(' ')}`, 'java', ['-Xshare:auto', '-XX:TieredStopAtLevel=1', '-cp', classpath, 'CuratorPeer', connectString, ...args]);
}

export function kazooPeer(connectString: string, ...args: string[]): Peer {
  return new Peer(`kazoo ${args.join(' ')}`, '/usr/bin/python3', [join(HERE, 'kazoo_peer.py'), connectString, ...args]);
}

export function batonPeer(url: string, ...args: string[]): Peer {
  return new Peer(`baton ${args.join(' ')}`, process.execPath, [join(HERE, 'baton-peer.mjs'), url, ...args]);
}

/** Resolves with the listing of `prefix` once `test` accepts it, woken by watch events only. */
export async function untilQueue(backend: Backend, prefix: string, test: (entries: QueueEntry[]) => boolean): Promise<QueueEntry[]> {
  for (;;) {
    const controller = new AbortController();
    const watched = await backend.watchPrefix(prefix, controller.signal);
    if (test(watched.current)) {
      controller.abort();
      return watched.current;
    }
    await watched.changed;
  }
}

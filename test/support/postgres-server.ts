/**
 * PostgreSQL servers for integration tests: `BATON_TEST_POSTGRES_URL` when set (a server the test
 * may not stop or pause); else a throw-away cluster made with the local `initdb` (Debian
 * `postgresql`) in a temp dir, on a free loopback port. initdb and postgres refuse to run as root,
 * so when the tests run as root the cluster belongs to the unprivileged `nobody` user and the
 * server process is started with that uid directly (no wrapper process in between, so SIGSTOP and
 * SIGKILL reach the server itself). Missing: `serverUnavailable` (a visible skip locally, a
 * failure under CI=true).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { chmod, chown, writeFile } from 'node:fs/promises';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, killProcess, serverUnavailable, type startProcess, tempDir, waitUntilServing } from './servers.js';
import { until } from './until.js';

export const POSTGRES_BIN = process.env.BATON_TEST_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';
/** The superuser of a test cluster, and its password (password authentication is on for TCP). */
export const SUPERUSER = 'baton_admin';
export const SUPERUSER_PASSWORD = 'baton-test-admin';
const UNPRIVILEGED_UID = 65534; // nobody
const UNPRIVILEGED_GID = 65534; // nogroup

export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  /** A `postgres://` URL as the superuser (or the given user) on `database` (default `postgres`). */
  url(options?: { user?: string; password?: string; database?: string; params?: Record<string, string | number> }): string;
  /** False for a server from the environment: it cannot be stopped, paused or killed. */
  readonly controllable: boolean;
  /** Runs SQL as the superuser on `database` and returns the rows. */
  sql<T = Record<string, unknown>>(text: string, values?: unknown[], database?: string): Promise<T[]>;
  /** Kills the server (SIGKILL), keeping its data. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data, once it accepts connections. */
  start(): Promise<void>;
  /** Freezes the server, postmaster and backends (SIGSTOP): it neither answers nor closes connections. */
  pause(): void;
  resume(): void;
  /** Whether the server process is running (false after kill() until start()). */
  readonly running: boolean;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

/** Whether a local PostgreSQL cluster can be made. */
export function localPostgresAvailable(): boolean {
  return existsSync(join(POSTGRES_BIN, 'initdb')) && existsSync(join(POSTGRES_BIN, 'postgres'));
}

/** Whether any PostgreSQL can be had (environment or local binaries), or CI demands one. */
export function postgresExpected(): boolean {
  return localPostgresAvailable() || !!process.env.BATON_TEST_POSTGRES_URL || process.env.CI === 'true';
}

/**
 * PostgreSQL for one test file. `needControl` asks for a server the test may kill or pause (never
 * the one from the environment). Resolves to undefined (a visible skip) when none can be had outside CI.
 */
export async function startPostgres(options: { needControl?: boolean } = {}): Promise<PostgresServer | undefined> {
  const fromEnv = process.env.BATON_TEST_POSTGRES_URL?.trim();
  if (fromEnv && !options.needControl) return external(fromEnv);
  if (localPostgresAvailable()) return startLocal();
  return serverUnavailable(
    options.needControl ? 'a PostgreSQL server the test controls' : 'PostgreSQL',
    `install the Debian "postgresql" package (${POSTGRES_BIN})` + (options.needControl ? '' : ', or set BATON_TEST_POSTGRES_URL'),
  );
}

async function query<T>(connection: pg.ClientConfig, text: string, values?: unknown[]): Promise<T[]> {
  const client = new pg.Client({ ...connection, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end().catch(() => {});
  }
}

function external(raw: string): PostgresServer {
  const parsed = new URL(raw.replace(/^postgres(ql)?:/, 'http:'));
  const refuse = () => {
    throw new Error('the server from BATON_TEST_POSTGRES_URL cannot be stopped, paused or killed');
  };
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    controllable: false,
    url(o = {}) {
      const url = new URL(raw);
      if (o.user !== undefined) url.username = encodeURIComponent(o.user);
      if (o.password !== undefined) url.password = encodeURIComponent(o.password);
      if (o.database !== undefined) url.pathname = `/${o.database}`;
      for (const [key, value] of Object.entries(o.params ?? {})) url.searchParams.set(key, String(value));
      return url.toString();
    },
    sql: (text, values, database) => {
      const url = new URL(raw);
      if (database !== undefined) url.pathname = `/${database}`;
      return query({ connectionString: url.toString() }, text, values);
    },
    running: true,
    kill: async () => refuse(),
    start: async () => refuse(),
    pause: refuse,
    resume: refuse,
    stop: async () => {},
  };
}

/** Runs a command as the cluster's owner: `nobody` when we are root, else ourselves. */
function asOwner(): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? { uid: UNPRIVILEGED_UID, gid: UNPRIVILEGED_GID } : {};
}

async function startLocal(): Promise<PostgresServer> {
  const dir = await tempDir('postgres');
  const data = join(dir.path, 'data');
  const owner = asOwner();
  if (owner.uid !== undefined) await chown(dir.path, owner.uid, owner.gid!);
  await chmod(dir.path, 0o700);
  const pwfile = join(dir.path, 'pwfile');
  await writeFile(pwfile, `${SUPERUSER_PASSWORD}\n`, { mode: 0o600 });
  if (owner.uid !== undefined) await chown(pwfile, owner.uid, owner.gid!);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C' };
  const init = spawnSync(
    join(POSTGRES_BIN, 'initdb'),
    ['-D', data, '-U', SUPERUSER, `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=trust', '-N', '-E', 'UTF8', '--locale=C'],
    { ...owner, env, encoding: 'utf8', cwd: dir.path },
  );
  if (init.status !== 0) {
    await dir.remove();
    throw new Error(`initdb failed (${init.status}):\n${init.stdout}\n${init.stderr}`);
  }
  const port = await freePort();
  const args = [
    '-D', data,
    '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1',
    '-c', `unix_socket_directories=${dir.path}`,
    // A throw-away cluster: durability against power loss does not matter, start-up time does.
    // A process crash (kill -9) still loses nothing: the kernel keeps what was written.
    '-c', 'fsync=off',
    '-c', 'full_page_writes=off',
    '-c', 'max_connections=200',
    '-c', 'shared_buffers=32MB',
    '-c', 'log_min_messages=warning',
  ];
  let proc: ReturnType<typeof startProcess> | undefined;
  let paused: number[] = [];
  /** Starts postgres as the cluster's owner, with the uid set on the child itself (no wrapper). */
  const launch = () => {
    const child = spawn(join(POSTGRES_BIN, 'postgres'), args, { cwd: dir.path, env, stdio: ['ignore', 'pipe', 'pipe'], ...owner });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-65536);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    proc = { child, output: () => output };
    return proc;
  };
  const admin: pg.ClientConfig = { host: '127.0.0.1', port, user: SUPERUSER, password: SUPERUSER_PASSWORD, database: 'postgres' };
  const ready = () =>
    waitUntilServing(
      'postgres',
      () => proc,
      async () => {
        try {
          await query(admin, 'select 1');
          return { ready: true };
        } catch (error) {
          return { ready: false, detail: (error as Error).message };
        }
      },
      30_000,
    );
  // A test worker that dies without running afterAll must not leave a server behind.
  const killAll = () => {
    proc?.child.kill('SIGKILL');
    rmSync(dir.path, { recursive: true, force: true });
  };
  process.once('exit', killAll);
  launch();
  try {
    await ready();
  } catch (error) {
    killAll();
    process.removeListener('exit', killAll);
    throw error;
  }
  return {
    host: '127.0.0.1',
    port,
    controllable: true,
    url(o = {}) {
      const user = encodeURIComponent(o.user ?? SUPERUSER);
      const password = encodeURIComponent(o.password ?? (o.user === undefined ? SUPERUSER_PASSWORD : ''));
      const params = new URLSearchParams(Object.entries(o.params ?? {}).map(([k, v]): [string, string] => [k, String(v)]));
      const query = params.size ? `?${params}` : '';
      return `postgres://${user}${password ? `:${password}` : ''}@127.0.0.1:${port}/${o.database ?? 'postgres'}${query}`;
    },
    sql: (text, values, database) => query({ ...admin, database: database ?? 'postgres' }, text, values),
    get running() {
      return proc !== undefined;
    },
    async kill() {
      if (!proc) return;
      // A crash of the whole server: the postmaster and its backends, as an OOM kill or a
      // machine reset would take them. (Killing only the postmaster leaves backends that hold its
      // shared memory until they notice, and the restart would be refused meanwhile.)
      // The postmaster is stopped first, so that it forks no backend between the listing and the
      // kill; the restart waits until every backend is gone, since until then their shared memory
      // is still in use and postgres refuses to start (seen under load: "pre-existing shared
      // memory block is still in use").
      signalQuietly(proc.child.pid!, 'SIGSTOP');
      const backends = childrenOf(proc.child.pid!);
      for (const pid of backends) signalQuietly(pid, 'SIGKILL');
      await killProcess(proc.child);
      await until(() => !backends.some(isRunning), 'the killed server\'s backends are gone', 10_000);
      proc = undefined;
    },
    async start() {
      launch();
      await ready();
    },
    pause() {
      if (!proc) return;
      // The whole server: the postmaster and every backend (which answer clients on their own).
      paused = [proc.child.pid!, ...childrenOf(proc.child.pid!)];
      for (const pid of paused) signalQuietly(pid, 'SIGSTOP');
    },
    resume() {
      for (const pid of paused) signalQuietly(pid, 'SIGCONT');
      paused = [];
    },
    async stop() {
      if (proc) await fastShutdown(proc.child);
      proc = undefined;
      process.removeListener('exit', killAll);
      await dir.remove();
    },
  };
}

/** The pids of a process's children (the server's backends), from /proc. */
function childrenOf(pid: number): number[] {
  const result = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return result.stdout.split('\n').map((line) => Number(line.trim())).filter((n) => n > 0);
}

/** Whether `pid` is still a process that has not exited (a zombie has: it holds no memory). */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function signalQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** postgres's fast shutdown (SIGINT: roll back, disconnect clients), SIGKILL after 5 s. */
async function fastShutdown(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGCONT');
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Redis servers for integration tests: `BATON_TEST_REDIS_URL` when set (used as given, not
 * controllable); else Debian's `redis-server` on a free loopback port with a temp dir, which a
 * test can kill (-9), restart (with or without its data), pause (SIGSTOP) and resume. Missing:
 * `serverUnavailable` (a visible skip locally, a failure under CI=true). Never a shared server.
 */
import { existsSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { Redis } from 'ioredis';
import { freePort, freezeProcess, killProcess, serverUnavailable, startProcess, stopProcess, tempDir, waitUntilServing } from './servers.js';

export const REDIS_BINARY = process.env.BATON_TEST_REDIS_BINARY ?? '/usr/bin/redis-server';

export interface RedisServerOptions {
  /** Append-only file with fsync on every write: a kill -9 loses nothing. Default: no persistence. */
  persistence?: boolean;
  /** `requirepass` of the default user. */
  password?: string;
  /** More `--name value` arguments for redis-server (e.g. cluster mode). */
  extraArgs?: string[];
  /** Also listen with TLS on a second port, with this server certificate, key and CA (PEM files). */
  tls?: { cert: string; key: string; ca: string };
}

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** The TLS port, when started with `tls`. */
  readonly tlsPort: number | undefined;
  /** A `redis://` URL for this server, with optional params (ttl, prefix) and credentials. */
  url(options?: { ttl?: number; prefix?: string; db?: number; auth?: { username: string; password: string } }): string;
  /** False for a server from BATON_TEST_REDIS_URL: it cannot be killed or paused. */
  readonly controllable: boolean;
  /** A plain client on the server, for operator-style actions (closed by `stop`). */
  raw(): Promise<Redis>;
  /** Kills the server at once (SIGKILL). */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data dir; resolves once it answers. */
  start(): Promise<void>;
  /** Freezes the server (SIGSTOP): it neither answers nor closes connections. */
  pause(): void;
  /** Lets a paused server run again (SIGCONT). */
  resume(): void;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

/** Whether a local redis-server can be started. */
export function localRedisAvailable(): boolean {
  return existsSync(REDIS_BINARY);
}

/** Whether a Redis server can be had at all (local binary or BATON_TEST_REDIS_URL). */
export function redisAvailable(): boolean {
  return localRedisAvailable() || !!process.env.BATON_TEST_REDIS_URL;
}

/**
 * A Redis server for one test file. `needControl` refuses a server from the environment (fault
 * tests must be able to kill their server). Resolves to undefined (a visible skip) when none can
 * be had outside CI.
 */
export async function startRedis(options: RedisServerOptions & { needControl?: boolean } = {}): Promise<RedisServer | undefined> {
  const fromEnv = process.env.BATON_TEST_REDIS_URL?.trim();
  if (fromEnv && !options.needControl && !options.password && !options.persistence && !options.extraArgs && !options.tls) return external(fromEnv);
  if (localRedisAvailable()) return startLocal(options);
  return serverUnavailable('redis-server', `set BATON_TEST_REDIS_URL, or install the Debian "redis-server" package (${REDIS_BINARY})`);
}

function urlFor(base: string, options: Parameters<RedisServer['url']>[0] = {}): string {
  const auth = options.auth ? `${encodeURIComponent(options.auth.username)}:${encodeURIComponent(options.auth.password)}@` : '';
  const params = new URLSearchParams();
  if (options.ttl !== undefined) params.set('ttl', String(options.ttl));
  if (options.prefix !== undefined) params.set('prefix', options.prefix);
  const query = params.size ? `?${params}` : '';
  return `redis://${auth}${base}${options.db !== undefined ? `/${options.db}` : ''}${query}`;
}

function external(url: string): RedisServer {
  const match = /^rediss?:\/\/(?:[^@/]*@)?([^:/?]+):(\d+)/.exec(url);
  if (!match) throw new Error(`BATON_TEST_REDIS_URL ${JSON.stringify(url)}: expected redis://host:port`);
  const [, host = '', port = '0'] = match;
  const clients: Redis[] = [];
  const refuse = () => {
    throw new Error('a server from BATON_TEST_REDIS_URL cannot be controlled');
  };
  return {
    host,
    port: Number(port),
    tlsPort: undefined,
    controllable: false,
    url: (o) => urlFor(`${host}:${port}`, o),
    async raw() {
      const client = new Redis(url, { lazyConnect: true });
      await client.connect();
      clients.push(client);
      return client;
    },
    kill: async () => refuse(),
    start: async () => refuse(),
    pause: refuse,
    resume: refuse,
    async stop() {
      for (const client of clients) client.disconnect();
    },
  };
}

/** PING over a bare socket: true when the server answers PONG (or asks for a password). */
function ping(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port }, () => socket.write('PING\r\n'));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 1000);
    socket.once('data', (chunk) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(/^(\+PONG|-NOAUTH)/.test(chunk.toString()));
    });
    socket.on('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

async function startLocal(options: RedisServerOptions): Promise<RedisServer> {
  const dir = await tempDir('redis');
  const port = await freePort();
  const tlsPort = options.tls ? await freePort() : undefined;
  const host = '127.0.0.1';
  const args = [
    '--port', String(port),
    '--bind', host,
    '--dir', dir.path,
    '--daemonize', 'no',
    '--protected-mode', 'no',
    '--save', '',
    '--loglevel', 'warning',
    ...(options.persistence ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ...(options.password ? ['--requirepass', options.password] : []),
    ...(options.extraArgs ?? []),
    ...(options.tls
      ? ['--tls-port', String(tlsPort), '--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key, '--tls-ca-cert-file', options.tls.ca, '--tls-auth-clients', 'no']
      : []),
  ];
  let proc: ReturnType<typeof startProcess> | undefined;
  const clients: Redis[] = [];
  // A test worker that dies without running afterAll must not leave a server behind.
  const killAll = () => {
    proc?.child.kill('SIGKILL');
    rmSync(dir.path, { recursive: true, force: true });
  };
  process.once('exit', killAll);
  const launch = async () => {
    proc = startProcess(REDIS_BINARY, args);
    await waitUntilServing(`redis-server on port ${port}`, () => proc, async () => ({ ready: await ping(host, port) }), 20_000);
  };
  try {
    await launch();
  } catch (error) {
    if (proc) await stopProcess(proc.child);
    await dir.remove();
    throw error;
  }
  return {
    host,
    port,
    tlsPort,
    controllable: true,
    url: (o) => urlFor(`${host}:${port}`, o),
    async raw() {
      const client = new Redis({ host, port, password: options.password, lazyConnect: true, maxRetriesPerRequest: 1 });
      client.on('error', () => {});
      await client.connect();
      clients.push(client);
      return client;
    },
    async kill() {
      const current = proc;
      proc = undefined;
      if (current) await killProcess(current.child);
    },
    start: launch,
    pause() {
      if (proc) freezeProcess(proc.child);
    },
    resume() {
      proc?.child.kill('SIGCONT');
    },
    async stop() {
      for (const client of clients) client.disconnect();
      if (proc) await stopProcess(proc.child);
      proc = undefined;
      process.removeListener('exit', killAll);
      await dir.remove();
    },
  };
}

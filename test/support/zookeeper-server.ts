/**
 * ZooKeeper servers for integration tests, in the brief's order: endpoints from
 * `BATON_TEST_ZOOKEEPER_ENDPOINTS`; else the Debian ZooKeeper jar started with java on free
 * loopback ports (one server, or a 3-server ensemble) in temp dirs; else a testcontainers
 * container when a Docker engine answers. Missing: `serverUnavailable` (skip locally, fail on CI).
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
import { freePort, freezeProcess, killProcess, serverUnavailable, startProcess, stopAll, stopProcess, tempDir, waitUntilServing } from './servers.js';

export const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
/** The jar's manifest names its dependencies; the conf dir is only for log configuration. */
const CLASSPATH = `/etc/zookeeper/conf:${ZOOKEEPER_JAR}`;

export interface ZooKeeperServers {
  /** `host:port` of each server. */
  readonly endpoints: string[];
  /** A `zookeeper://` URL for these servers, with optional credentials, chroot and params. */
  url(options?: { chroot?: string; sessionTimeout?: number; auth?: { username: string; password: string } }): string;
  /** False for servers from the environment or a container: they cannot be stopped one by one. */
  readonly controllable: boolean;
  /** Stops server `index` (SIGKILL when `kill`), keeping its data. */
  stopServer(index: number, kill?: boolean): Promise<void>;
  /** Starts server `index` again on the same ports and data, resolving once it serves. */
  startServer(index: number): Promise<void>;
  /** Freezes server `index` (SIGSTOP): it keeps its sockets but answers nothing until resumed. */
  pauseServer(index: number): void;
  /** Thaws a server frozen by {@link pauseServer} (SIGCONT). */
  resumeServer(index: number): void;
  /**
   * The proxy on server `from`'s quorum link to server `to` (its connection to `to`'s quorum
   * port when `to` leads), for ensembles started with `proxiedQuorum`; undefined otherwise.
   */
  quorumLink(from: number, to: number): TcpProxy | undefined;
  /** Index of the ensemble's current leader (0 for a single server). */
  leader(): Promise<number>;
  /** The server's answer to a four-letter word (`srvr`, `wchs`, ...), or undefined when it does not answer. */
  fourLetter(index: number, word: string): Promise<string | undefined>;
  /** Stops every server and removes their data. */
  stop(): Promise<void>;
}

/** Whether a local ZooKeeper can be started (java and the Debian jar). */
export function localZooKeeperAvailable(): boolean {
  return existsSync(ZOOKEEPER_JAR) && (existsSync('/usr/bin/java') || !!process.env.JAVA_HOME);
}

/** Sends a four-letter word to host:port and returns the answer. */
export function fourLetterWord(host: string, port: number, word: string, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = tcpConnect({ host, port }, () => socket.write(word));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(undefined);
    }, timeoutMs);
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer === '' ? undefined : answer);
    });
  });
}

function urlFor(endpoints: string[], options: Parameters<ZooKeeperServers['url']>[0] = {}): string {
  const auth = options.auth ? `${encodeURIComponent(options.auth.username)}:${encodeURIComponent(options.auth.password)}@` : '';
  const query = options.sessionTimeout !== undefined ? `?sessionTimeout=${options.sessionTimeout}` : '';
  return `zookeeper://${auth}${endpoints.join(',')}${options.chroot ?? ''}${query}`;
}

/**
 * ZooKeeper servers for one test file. `size` 3 asks for an ensemble; environment endpoints are
 * used as given. Resolves to undefined (a visible skip) when none can be had outside CI.
 * `proxiedQuorum` (local ensembles only): each server reaches every other server's quorum port
 * through its own TCP proxy ({@link ZooKeeperServers.quorumLink}), so a test can cut one
 * follower off from the leader while clients still reach it.
 */
export async function startZooKeeper(
  size: 1 | 3 = 1,
  options: { needControl?: boolean; proxiedQuorum?: boolean; maxSessionTimeout?: number } = {},
): Promise<ZooKeeperServers | undefined> {
  const fromEnv = process.env.BATON_TEST_ZOOKEEPER_ENDPOINTS?.trim();
  if (fromEnv && !options.needControl && !options.proxiedQuorum && options.maxSessionTimeout === undefined && size === 1) {
    const endpoints = fromEnv.split(',').map((e) => e.trim()).filter(Boolean);
    return external(endpoints);
  }
  if (localZooKeeperAvailable()) return startLocal(size, options.proxiedQuorum ?? false, options.maxSessionTimeout ?? 60_000);
  if (size === 1 && !options.needControl) {
    const container = await startContainer();
    if (container) return container;
  }
  return serverUnavailable(
    size === 3 ? 'a 3-server ZooKeeper ensemble' : 'ZooKeeper',
    `set BATON_TEST_ZOOKEEPER_ENDPOINTS, or install java and the Debian "zookeeper" package (${ZOOKEEPER_JAR})` +
      (size === 1 && !options.needControl ? ', or run a Docker engine' : ''),
  );
}

function external(endpoints: string[]): ZooKeeperServers {
  const refuse = async () => {
    throw new Error('servers from BATON_TEST_ZOOKEEPER_ENDPOINTS cannot be controlled');
  };
  return {
    endpoints,
    controllable: false,
    url: (o) => urlFor(endpoints, o),
    stopServer: refuse,
    startServer: refuse,
    pauseServer: () => {
      throw new Error('servers from BATON_TEST_ZOOKEEPER_ENDPOINTS cannot be controlled');
    },
    resumeServer: () => {},
    quorumLink: () => undefined,
    leader: async () => 0,
    fourLetter: async (index, word) => {
      const [host, port] = splitHostPort(endpoints[index]!);
      return fourLetterWord(host, port, word);
    },
    stop: async () => {},
  };
}

/** A proxy to `target` on a port none of the servers will bind (those were free a moment ago). */
async function proxyAvoiding(target: number, reserved: ReadonlySet<number>): Promise<TcpProxy> {
  for (;;) {
    const proxy = await startTcpProxy(target);
    if (!reserved.has(proxy.port)) return proxy;
    await proxy.close();
  }
}

function splitHostPort(endpoint: string): [string, number] {
  const colon = endpoint.lastIndexOf(':');
  return [endpoint.slice(0, colon), Number(endpoint.slice(colon + 1))];
}

async function startLocal(size: 1 | 3, proxiedQuorum: boolean, maxSessionTimeout: number): Promise<ZooKeeperServers> {
  const dir = await tempDir('zookeeper');
  const clientPorts: number[] = [];
  const quorumPorts: Array<[number, number]> = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    if (size > 1) quorumPorts.push([await freePort(), await freePort()]);
  }
  // links[from][to]: server `from` reaches server `to`'s quorum port through this proxy.
  const reserved = new Set([...clientPorts, ...quorumPorts.flat()]);
  const links: Array<Array<TcpProxy | undefined>> = [];
  if (proxiedQuorum && size > 1) {
    for (let from = 0; from < size; from++) {
      links.push([]);
      for (let to = 0; to < size; to++) links[from]!.push(from === to ? undefined : await proxyAvoiding(quorumPorts[to]![0], reserved));
    }
  }
  const endpoints = clientPorts.map((port) => `127.0.0.1:${port}`);
  // Short ticks so session timeouts of a few hundred ms are allowed and expiry is prompt.
  const tickTime = size === 1 ? 100 : 200;
  const configs: string[] = [];
  for (let i = 0; i < size; i++) {
    const dataDir = join(dir.path, `server${i + 1}`);
    await mkdir(dataDir, { recursive: true });
    const lines = [
      `tickTime=${tickTime}`,
      'initLimit=50',
      'syncLimit=10',
      `dataDir=${dataDir}`,
      `clientPort=${clientPorts[i]}`,
      'clientPortAddress=127.0.0.1',
      `minSessionTimeout=${2 * tickTime}`,
      `maxSessionTimeout=${maxSessionTimeout}`,
      'admin.enableServer=false',
      '4lw.commands.whitelist=srvr,ruok,stat,mntr,cons,wchs,wchc',
      'forceSync=no',
      'preAllocSize=1024',
      // Every test coordinator is one connection from 127.0.0.1; the default cap of 60 per
      // address is reached by a full conformance run, and then connections are refused.
      'maxClientCnxns=0',
    ];
    if (size > 1) {
      await writeFile(join(dataDir, 'myid'), `${i + 1}\n`);
      quorumPorts.forEach(([peer, election], j) => lines.push(`server.${j + 1}=127.0.0.1:${links[i]?.[j]?.port ?? peer}:${election}`));
    }
    const cfg = join(dir.path, `zoo${i + 1}.cfg`);
    await writeFile(cfg, `${lines.join('\n')}\n`);
    configs.push(cfg);
  }
  const processes: Array<ReturnType<typeof startProcess> | undefined> = new Array(size).fill(undefined);
  // A test worker that dies without running afterAll must not leave servers behind.
  const killAll = () => {
    processes.forEach((p) => {
      p?.child.kill('SIGCONT');
      p?.child.kill('SIGKILL');
    });
    rmSync(dir.path, { recursive: true, force: true });
  };
  process.once('exit', killAll);
  const launch = (index: number) => {
    processes[index] = startProcess('java', [
      '-Xms32m',
      '-Xmx192m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Xshare:auto',
      '-Dzookeeper.admin.enableServer=false',
      '-Dzookeeper.jmx.log4j.disable=true',
      '-cp',
      CLASSPATH,
      'org.apache.zookeeper.server.quorum.QuorumPeerMain',
      configs[index]!,
    ]);
  };
  const fourLetter = (index: number, word: string) => fourLetterWord('127.0.0.1', clientPorts[index]!, word);
  const serving = (index: number, deadlineMs = 60_000) =>
    waitUntilServing(
      `ZooKeeper server ${index + 1}`,
      () => processes[index],
      async () => ({ ready: (await fourLetter(index, 'srvr'))?.includes('Mode:') ?? false }),
      deadlineMs,
    );
  for (let i = 0; i < size; i++) launch(i);
  try {
    await Promise.all(configs.map((_, i) => serving(i)));
  } catch (error) {
    await stopAll(processes);
    await dir.remove();
    throw error;
  }
  return {
    endpoints,
    controllable: true,
    url: (o) => urlFor(endpoints, o),
    pauseServer(index) {
      const server = processes[index];
      if (server) freezeProcess(server.child);
    },
    resumeServer(index) {
      processes[index]?.child.kill('SIGCONT');
    },
    quorumLink: (from, to) => links[from]?.[to],
    async stopServer(index, kill = false) {
      const proc = processes[index];
      if (!proc) return;
      await (kill ? killProcess(proc.child) : stopProcess(proc.child));
      processes[index] = undefined;
    },
    async startServer(index) {
      launch(index);
      await serving(index);
    },
    async leader() {
      for (let i = 0; i < size; i++) {
        const answer = await fourLetter(i, 'srvr');
        if (answer?.includes('Mode: leader') || answer?.includes('Mode: standalone')) return i;
      }
      throw new Error('no ZooKeeper server reports itself leader');
    },
    fourLetter,
    async stop() {
      process.removeListener('exit', killAll);
      await stopAll(processes);
      await Promise.all(links.flat().map((link) => link?.close()));
      await dir.remove();
    },
  };
}

/** A ZooKeeper container, when testcontainers finds a Docker engine. */
async function startContainer(): Promise<ZooKeeperServers | undefined> {
  try {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('zookeeper:3.8')
      .withExposedPorts(2181)
      .withEnvironment({ ZOO_TICK_TIME: '100', ZOO_4LW_COMMANDS_WHITELIST: 'srvr,ruok,stat,mntr', ZOO_ADMINSERVER_ENABLED: 'false' })
      .withWaitStrategy(Wait.forListeningPorts())
      .start();
    const endpoints = [`${container.getHost()}:${container.getMappedPort(2181)}`];
    return { ...external(endpoints), stop: async () => void (await container.stop()) };
  } catch {
    return undefined;
  }
}

/**
 * Ends a session from the server side: a second connection joins the session (same id and
 * password) and closes it in the same write, before the session's own client can reconnect and
 * take it back. Written against the wire protocol directly because a client library waits for
 * its connection to settle before sending anything, and loses that race.
 */
export function expireSession(endpoint: string, sessionId: Buffer, password: Buffer, timeoutMs = 10_000): Promise<void> {
  const [host, port] = splitHostPort(endpoint);
  const connectBody = Buffer.alloc(4 + 8 + 4 + 8 + 4 + password.length + 1);
  let offset = connectBody.writeInt32BE(0, 0); // protocol version
  offset = connectBody.writeBigInt64BE(0n, offset); // last zxid seen
  offset = connectBody.writeInt32BE(timeoutMs, offset);
  offset += sessionId.copy(connectBody, offset);
  offset = connectBody.writeInt32BE(password.length, offset);
  offset += password.copy(connectBody, offset);
  connectBody.writeUInt8(0, offset); // not read-only
  const closeBody = Buffer.alloc(8);
  closeBody.writeInt32BE(1, 0); // xid
  closeBody.writeInt32BE(-11, 4); // closeSession
  const framed = (body: Buffer) => {
    const out = Buffer.concat([Buffer.alloc(4), body]);
    out.writeInt32BE(body.length, 0);
    return out;
  };
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    let frames = 0;
    const finish = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const socket = tcpConnect({ host, port }, () => socket.write(Buffer.concat([framed(connectBody), framed(closeBody)])));
    const timer = setTimeout(() => finish(new Error(`expiring session 0x${sessionId.toString('hex')}: no answer from ${endpoint}`)), timeoutMs);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 4 && received.length >= 4 + received.readInt32BE(0)) {
        const body = received.subarray(4, 4 + received.readInt32BE(0));
        received = received.subarray(4 + body.length);
        frames++;
        if (frames === 1) {
          if (body.readInt32BE(4) <= 0) return finish(new Error(`session 0x${sessionId.toString('hex')} is already gone`));
        } else if (body.readInt32BE(0) === 1) {
          const err = body.readInt32BE(12);
          return finish(err === 0 ? undefined : new Error(`closing session 0x${sessionId.toString('hex')} failed with code ${err}`));
        }
      }
    });
    socket.on('close', () => finish(new Error(`expiring session 0x${sessionId.toString('hex')}: ${endpoint} closed the connection first`)));
  });
}

/**
 * Expires the live session of a Baton ZooKeeper backend from the server side. The client's
 * reconnect is held back while the session is closed, since a client that reconnects at once
 * takes its session back before the close can be processed; afterwards it reconnects, and the
 * server tells it that its session has expired.
 */
export async function expireBackendSession(backend: unknown): Promise<void> {
  const b = backend as {
    sessionCredentials(): { id: Buffer; password: Buffer; endpoints: string } | undefined;
    connection(): Promise<{ client: unknown }>;
  };
  const credentials = b.sessionCredentials();
  if (!credentials) throw new Error('the backend has no live ZooKeeper session');
  const { client } = await b.connection();
  const manager = (client as { connectionManager: { connect(): void } }).connectionManager;
  const reconnect = manager.connect;
  let deferred = false;
  manager.connect = function (this: unknown) {
    deferred = true;
  };
  try {
    const endpoints = credentials.endpoints.split(',');
    for (let attempt = 0; ; attempt++) {
      try {
        await expireSession(endpoints[attempt % endpoints.length]!, credentials.id, credentials.password);
        break;
      } catch (error) {
        if (attempt >= 2 * endpoints.length) throw error;
      }
    }
  } finally {
    manager.connect = reconnect;
    if (deferred) reconnect.call(manager);
  }
}

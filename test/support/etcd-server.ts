/**
 * etcd servers for integration tests, in the brief's order: endpoints from
 * `BATON_TEST_ETCD_ENDPOINTS`; else the local `etcd` binary (Debian `etcd-server`) on free
 * loopback ports with a temp data dir (one member, or a 3-member cluster, optionally TLS); else a
 * testcontainers container when a Docker engine answers. Missing: `serverUnavailable` (a visible
 * skip locally, a failure under CI=true). Also runs `etcdctl` against the servers.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, freezeProcess, killProcess, serverUnavailable, startProcess, stopAll, stopProcess, tempDir, waitUntilServing } from './servers.js';

export const ETCD_BINARY = process.env.BATON_TEST_ETCD_BINARY ?? '/usr/bin/etcd';
export const ETCDCTL_BINARY = process.env.BATON_TEST_ETCDCTL_BINARY ?? '/usr/bin/etcdctl';

/** PEM files for a TLS cluster: the CA that signed the server and client certificates. */
export interface TlsFiles {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export interface EtcdServers {
  /** `host:port` of each member. */
  readonly endpoints: string[];
  /** An `etcd://` (or `etcd+https://`) URL for these servers. */
  /** `shareConnection: false`: a coordinator with a connection of its own (its requests counted apart). */
  url(options?: { ttl?: number; namespace?: string; auth?: { username: string; password: string }; shareConnection?: boolean }): string;
  /** False for servers from the environment or a container: members cannot be stopped one by one. */
  readonly controllable: boolean;
  /** The TLS files, for a TLS cluster. */
  readonly tls: TlsFiles | undefined;
  /** Stops member `index` (SIGKILL when `kill`), keeping its data. */
  stopMember(index: number, kill?: boolean): Promise<void>;
  /** Starts member `index` again on its ports and data, resolving once it is healthy. */
  startMember(index: number): Promise<void>;
  /** Freezes member `index` (SIGSTOP): it neither answers nor closes connections. */
  pauseMember(index: number): void;
  /** Lets a paused member run again (SIGCONT). */
  resumeMember(index: number): void;
  /** Index of the cluster's current leader. */
  leader(): Promise<number>;
  /** Runs etcdctl (API v3) against these servers. */
  etcdctl(args: string[], options?: { user?: string; endpoints?: string[]; timeoutMs?: number }): Promise<EtcdctlResult>;
  /** The arguments etcdctl needs to reach these servers (endpoints, TLS files). */
  etcdctlArgs(endpoints?: string[]): string[];
  /** Stops every member and removes their data. */
  stop(): Promise<void>;
}

export interface EtcdctlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Whether a local etcd can be started. */
export function localEtcdAvailable(): boolean {
  return existsSync(ETCD_BINARY);
}

/** Whether etcdctl is installed (interop tests need it). */
export function etcdctlAvailable(): boolean {
  return existsSync(ETCDCTL_BINARY);
}

/**
 * etcd for one test file. `members: 3` asks for a cluster; environment endpoints are used as
 * given (single, uncontrolled). Resolves to undefined (a visible skip) when none can be had outside CI.
 */
export async function startEtcd(
  options: { members?: 1 | 3; tls?: TlsFiles; needControl?: boolean; extraArgs?: string[] } = {},
): Promise<EtcdServers | undefined> {
  const members = options.members ?? 1;
  const fromEnv = process.env.BATON_TEST_ETCD_ENDPOINTS?.trim();
  const simple = members === 1 && !options.needControl && !options.tls && !options.extraArgs;
  if (fromEnv && simple) return external(fromEnv.split(',').map((e) => e.trim().replace(/^https?:\/\//, '')).filter(Boolean));
  if (localEtcdAvailable()) return startLocal(members, options.tls, options.extraArgs);
  if (simple) {
    const container = await startContainer();
    if (container) return container;
  }
  return serverUnavailable(
    members === 3 ? 'a 3-member etcd cluster' : options.tls ? 'etcd with TLS' : 'etcd',
    `set BATON_TEST_ETCD_ENDPOINTS, or install the Debian "etcd-server" package (${ETCD_BINARY})` + (simple ? ', or run a Docker engine' : ''),
  );
}

function urlFor(endpoints: string[], https: boolean, options: Parameters<EtcdServers['url']>[0] = {}): string {
  const auth = options.auth ? `${encodeURIComponent(options.auth.username)}:${encodeURIComponent(options.auth.password)}@` : '';
  const params = new URLSearchParams();
  if (options.ttl !== undefined) params.set('ttl', String(options.ttl));
  if (options.namespace !== undefined) params.set('namespace', options.namespace);
  if (options.shareConnection !== undefined) params.set('shareconnection', String(options.shareConnection));
  const query = params.size ? `?${params}` : '';
  return `${https ? 'etcd+https' : 'etcd'}://${auth}${endpoints.join(',')}${query}`;
}

function runEtcdctl(args: string[], timeoutMs: number): Promise<EtcdctlResult> {
  return new Promise((resolve) => {
    execFile(ETCDCTL_BINARY, args, { env: { ...process.env, ETCDCTL_API: '3' }, timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function clientArgs(endpoints: string[], tls: TlsFiles | undefined): string[] {
  const args = [`--endpoints=${endpoints.join(',')}`];
  if (tls) args.push(`--cacert=${tls.ca}`, `--cert=${tls.clientCert}`, `--key=${tls.clientKey}`);
  return args;
}

function controlled(endpoints: string[], tls: TlsFiles | undefined) {
  return {
    etcdctlArgs: (only?: string[]) => clientArgs(only ?? endpoints, tls),
    etcdctl: (args: string[], o: { user?: string; endpoints?: string[]; timeoutMs?: number } = {}) =>
      runEtcdctl([...clientArgs(o.endpoints ?? endpoints, tls), ...(o.user ? [`--user=${o.user}`] : []), ...args], o.timeoutMs ?? 15_000),
  };
}

function external(endpoints: string[]): EtcdServers {
  const refuse = async () => {
    throw new Error('servers from BATON_TEST_ETCD_ENDPOINTS cannot be controlled');
  };
  return {
    endpoints,
    controllable: false,
    tls: undefined,
    url: (o) => urlFor(endpoints, false, o),
    stopMember: refuse,
    startMember: refuse,
    pauseMember: () => {
      throw new Error('servers from BATON_TEST_ETCD_ENDPOINTS cannot be controlled');
    },
    resumeMember: () => {
      throw new Error('servers from BATON_TEST_ETCD_ENDPOINTS cannot be controlled');
    },
    leader: async () => 0,
    ...controlled(endpoints, undefined),
    stop: async () => {},
  };
}

async function startLocal(size: 1 | 3, tls: TlsFiles | undefined, extraArgs: string[] = []): Promise<EtcdServers> {
  const dir = await tempDir('etcd');
  const clientPorts: number[] = [];
  const peerPorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(await freePort());
    peerPorts.push(await freePort());
  }
  const scheme = tls ? 'https' : 'http';
  const endpoints = clientPorts.map((port) => `127.0.0.1:${port}`);
  const names = clientPorts.map((_, i) => `m${i + 1}`);
  const cluster = names.map((name, i) => `${name}=http://127.0.0.1:${peerPorts[i]}`).join(',');
  const token = `baton-test-${process.pid}-${clientPorts[0]}`;
  const argsOf = (i: number, state: 'new' | 'existing') => {
    const args = [
      `--name=${names[i]}`,
      `--data-dir=${join(dir.path, names[i]!)}`,
      `--listen-client-urls=${scheme}://127.0.0.1:${clientPorts[i]}`,
      `--advertise-client-urls=${scheme}://127.0.0.1:${clientPorts[i]}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPorts[i]}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPorts[i]}`,
      `--initial-cluster=${cluster}`,
      `--initial-cluster-state=${state}`,
      `--initial-cluster-token=${token}`,
      // Short raft timers so that a killed leader is replaced within about a second.
      '--heartbeat-interval=50',
      '--election-timeout=500',
      '--log-level=warn',
    ];
    if (tls) args.push(`--cert-file=${tls.serverCert}`, `--key-file=${tls.serverKey}`, `--trusted-ca-file=${tls.ca}`, '--client-cert-auth');
    return [...args, ...extraArgs];
  };
  const processes: Array<ReturnType<typeof startProcess> | undefined> = new Array(size).fill(undefined);
  // A test worker that dies without running afterAll must not leave servers behind.
  const killAll = () => {
    processes.forEach((p) => p?.child.kill('SIGKILL'));
    rmSync(dir.path, { recursive: true, force: true });
  };
  process.once('exit', killAll);
  const started = new Set<number>();
  const launch = (i: number) => {
    processes[i] = startProcess(ETCD_BINARY, argsOf(i, started.has(i) ? 'existing' : 'new'));
    started.add(i);
  };
  const healthy = (i: number, deadlineMs = 30_000) =>
    waitUntilServing(
      `etcd member ${names[i]}`,
      () => processes[i],
      async () => {
        const result = await runEtcdctl([...clientArgs([endpoints[i]!], tls), '--command-timeout=1s', 'endpoint', 'health'], 3000);
        return { ready: result.code === 0, detail: result.stderr };
      },
      deadlineMs,
    );
  for (let i = 0; i < size; i++) launch(i);
  try {
    await Promise.all(names.map((_, i) => healthy(i)));
  } catch (error) {
    await stopAll(processes);
    await dir.remove();
    throw error;
  }
  const tools = controlled(endpoints, tls);
  return {
    endpoints,
    controllable: true,
    tls,
    url: (o) => urlFor(endpoints, !!tls, o),
    async stopMember(index, kill = false) {
      const proc = processes[index];
      processes[index] = undefined;
      if (!proc) return;
      await (kill ? killProcess(proc.child) : stopProcess(proc.child));
    },
    pauseMember(index) {
      const member = processes[index];
      if (member) freezeProcess(member.child);
    },
    resumeMember(index) {
      processes[index]?.child.kill('SIGCONT');
    },
    async startMember(index) {
      launch(index);
      await healthy(index);
    },
    async leader() {
      const result = await tools.etcdctl(['endpoint', 'status', '-w', 'json']);
      const statuses = JSON.parse(result.stdout) as Array<{ Endpoint: string; Status: { header: { member_id: number }; leader: number } }>;
      const leaderId = statuses[0]?.Status.leader;
      const found = statuses.find((s) => s.Status.header.member_id === leaderId);
      return found ? endpoints.indexOf(found.Endpoint.replace(/^https?:\/\//, '')) : -1;
    },
    ...tools,
    async stop() {
      await stopAll(processes);
      process.removeListener('exit', killAll);
      await dir.remove();
    },
  };
}

/** Generates a CA and server/client certificates for 127.0.0.1 with openssl, in `dir`. */
export function generateTls(dir: string): TlsFiles | undefined {
  if (!existsSync('/usr/bin/openssl')) return undefined;
  const run = (args: string[]) => {
    const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${result.stderr}`);
  };
  const ext = join(dir, 'san.cnf');
  spawnSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth,clientAuth\\n' > "${ext}"`]);
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=baton-test-ca', '-keyout', 'ca.key', '-out', 'ca.pem']);
  for (const who of ['server', 'client']) {
    run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=baton-${who}`, '-keyout', `${who}.key`, '-out', `${who}.csr`]);
    run(['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${who}.pem`]);
  }
  return {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}

/** A single etcd in a container, when a Docker engine answers; undefined otherwise. */
async function startContainer(): Promise<EtcdServers | undefined> {
  if (spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 }).status !== 0) return undefined;
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('quay.io/coreos/etcd:v3.4.23')
    .withCommand(['etcd', '--listen-client-urls=http://0.0.0.0:2379', '--advertise-client-urls=http://127.0.0.1:2379'])
    .withExposedPorts(2379)
    .withWaitStrategy(Wait.forLogMessage(/ready to serve client requests/))
    .start();
  const endpoints = [`${container.getHost()}:${container.getMappedPort(2379)}`];
  return { ...external(endpoints), stop: async () => void (await container.stop()) };
}

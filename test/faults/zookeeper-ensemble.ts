/**
 * A 3-server ZooKeeper ensemble for the fault suite, like test/support's, with two additions:
 * members can be frozen (SIGSTOP), and server 1's links to the other servers' quorum ports go
 * through test-controlled TCP proxies, so that server 1 can be cut off from its leader while its
 * clients still reach it. Server 1 is the lowest id, so a fresh ensemble elects another server;
 * the isolation nemesis makes sure of it before it starts.
 */
import { rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, killProcess, startProcess, stopAll, stopProcess, tempDir, waitUntilServing } from '../support/servers.js';
import { fourLetterWord, ZOOKEEPER_JAR } from '../support/zookeeper-server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const CLASSPATH = `/etc/zookeeper/conf:${ZOOKEEPER_JAR}`;
const SIZE = 3;

export interface ZooKeeperEnsemble {
  readonly endpoints: string[];
  /** Kills (SIGKILL) or stops server `index`, keeping its data. */
  stopServer(index: number, kill?: boolean): Promise<void>;
  /** Starts server `index` again; resolves once it serves in an ensemble (leader or follower). */
  startServer(index: number): Promise<void>;
  pauseServer(index: number): void;
  resumeServer(index: number): void;
  /** Index of the current leader, or -1 when none of the running servers says it leads. */
  leader(): Promise<number>;
  /** Whether server `index` answers and is part of a quorum. */
  serving(index: number): Promise<boolean>;
  /** Silences (or restores) server 1's links to the other servers' quorum ports. */
  isolateFirst(isolated: boolean): void;
  /** The `wchs`/`srvr` style answer of a server, undefined when it does not answer. */
  fourLetter(index: number, word: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

export async function startZooKeeperEnsemble(): Promise<ZooKeeperEnsemble> {
  const dir = await tempDir('faults-zk');
  const clientPorts: number[] = [];
  const peerPorts: number[] = [];
  const electionPorts: number[] = [];
  for (let i = 0; i < SIZE; i++) {
    clientPorts.push(await freePort());
    peerPorts.push(await freePort());
    electionPorts.push(await freePort());
  }
  // Server 1 reaches servers 2 and 3's quorum ports through these; everything else is direct.
  const proxies: TcpProxy[] = [];
  for (let j = 1; j < SIZE; j++) proxies.push(await startTcpProxy(peerPorts[j]!));
  const endpoints = clientPorts.map((port) => `127.0.0.1:${port}`);
  const tickTime = 200;
  const configs: string[] = [];
  for (let i = 0; i < SIZE; i++) {
    const dataDir = join(dir.path, `server${i + 1}`);
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(dataDir, 'myid'), `${i + 1}\n`);
    const lines = [
      `tickTime=${tickTime}`,
      // A new leader gives up after initLimit ticks without a quorum of followers, and a survivor
      // that came too early cannot follow it before then: server 1 reaches the leader's quorum port
      // through a proxy, which accepts at once and closes when the port is not open yet, where a
      // direct connect would be refused and retried. Killing the leader, the two survivors served
      // again after 11-14.5 s in 3 of 6 kills with 50 ticks (10 s), and within 0.4-6.2 s in 6 of 6
      // with 10 (2 s, as syncLimit), load average 22-28.
      'initLimit=10',
      // A follower that hears nothing from its leader for syncLimit ticks (2 s) stops serving.
      'syncLimit=10',
      `dataDir=${dataDir}`,
      `clientPort=${clientPorts[i]}`,
      'clientPortAddress=127.0.0.1',
      `minSessionTimeout=${2 * tickTime}`,
      'maxSessionTimeout=60000',
      'admin.enableServer=false',
      '4lw.commands.whitelist=srvr,ruok,stat,mntr,cons,wchs',
      'forceSync=no',
      'preAllocSize=1024',
    ];
    for (let j = 0; j < SIZE; j++) {
      const peer = i === 0 && j > 0 ? proxies[j - 1]!.port : peerPorts[j];
      lines.push(`server.${j + 1}=127.0.0.1:${peer}:${electionPorts[j]}`);
    }
    const cfg = join(dir.path, `zoo${i + 1}.cfg`);
    await writeFile(cfg, `${lines.join('\n')}\n`);
    configs.push(cfg);
  }
  const processes: Array<ReturnType<typeof startProcess> | undefined> = new Array(SIZE).fill(undefined);
  const killAll = () => {
    processes.forEach((p) => p?.child.kill('SIGKILL'));
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
  const fourLetter = (index: number, word: string) => fourLetterWord('127.0.0.1', clientPorts[index]!, word, 1000);
  const serving = async (index: number) => /Mode: (leader|follower)/.test((await fourLetter(index, 'srvr')) ?? '');
  const waitServing = (index: number) =>
    waitUntilServing(`ZooKeeper server ${index + 1}`, () => processes[index], async () => ({ ready: await serving(index) }), 60_000);
  for (let i = 0; i < SIZE; i++) launch(i);
  try {
    await Promise.all(configs.map((_, i) => waitServing(i)));
  } catch (error) {
    await stopAll(processes);
    await Promise.all(proxies.map((p) => p.close()));
    await dir.remove();
    throw error;
  }
  return {
    endpoints,
    async stopServer(index, kill = true) {
      const proc = processes[index];
      processes[index] = undefined;
      if (proc) await (kill ? killProcess(proc.child) : stopProcess(proc.child));
    },
    async startServer(index) {
      if (!processes[index]) launch(index);
      await waitServing(index);
    },
    pauseServer: (index) => void processes[index]?.child.kill('SIGSTOP'),
    resumeServer: (index) => void processes[index]?.child.kill('SIGCONT'),
    async leader() {
      for (let i = 0; i < SIZE; i++) {
        if (!processes[i]) continue;
        if ((await fourLetter(i, 'srvr'))?.includes('Mode: leader')) return i;
      }
      return -1;
    },
    serving,
    isolateFirst(isolated) {
      for (const proxy of proxies) (isolated ? proxy.silence() : proxy.restore());
      // Restoring drops the connections that were held silent, so that server 1 reconnects at once
      // instead of waiting for its reads on a half-dead link to time out.
      if (!isolated) for (const proxy of proxies) proxy.cut();
    },
    fourLetter,
    async stop() {
      process.removeListener('exit', killAll);
      processes.forEach((p) => p?.child.kill('SIGCONT'));
      await stopAll(processes);
      await Promise.all(proxies.map((p) => p.close()));
      await dir.remove();
    },
  };
}

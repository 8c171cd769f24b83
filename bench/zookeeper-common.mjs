// Shared by the ZooKeeper benchmarks: a server (BATON_BENCH_ZOOKEEPER_ENDPOINTS, else the Debian
// ZooKeeper jar started with java on a free loopback port).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { freePort } from './common.mjs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const JARS = '/usr/share/java';

function fourLetter(port, word) {
  return new Promise((resolve) => {
    let answer = '';
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => socket.write(word));
    // A server still starting can accept the connection and never answer it.
    socket.setTimeout(2000, () => socket.destroy());
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('error', () => resolve(undefined));
    socket.on('close', () => resolve(answer || undefined));
  });
}

/** `{ endpoints, version, stop }` for a ZooKeeper server. */
export async function zookeeperServer() {
  const fromEnv = process.env.BATON_BENCH_ZOOKEEPER_ENDPOINTS?.trim();
  if (fromEnv) return { endpoints: fromEnv.split(','), version: 'external', stop: async () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-zk-'));
  const port = await freePort();
  mkdirSync(join(dir, 'data'));
  writeFileSync(
    join(dir, 'zoo.cfg'),
    [`tickTime=2000`, `dataDir=${join(dir, 'data')}`, `clientPort=${port}`, 'clientPortAddress=127.0.0.1', 'admin.enableServer=false', '4lw.commands.whitelist=srvr', 'maxClientCnxns=0'].join('\n') + '\n',
  );
  const child = spawn('java', ['-Xmx256m', '-Dzookeeper.admin.enableServer=false', '-cp', `/etc/zookeeper/conf:${JARS}/zookeeper.jar`, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', join(dir, 'zoo.cfg')], { stdio: 'ignore' });
  let srvr;
  for (let i = 0; i < 300 && !(srvr = await fourLetter(port, 'srvr'))?.includes('Mode:'); i++) await new Promise((r) => setTimeout(r, 100));
  if (!srvr?.includes('Mode:')) throw new Error('ZooKeeper did not start');
  const version = /Zookeeper version: ([^\s,-]+)/.exec(srvr)?.[1] ?? 'unknown';
  return {
    endpoints: [`127.0.0.1:${port}`],
    version,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Shared by the ZooKeeper benchmarks: a server (BATON_BENCH_ZOOKEEPER_ENDPOINTS, else the Debian
// ZooKeeper jar started with java on a free loopback port).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { freePort } from './common.mjs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const JARS = '/usr/share/java';

function fourLetter(port, word, host = '127.0.0.1') {
  return new Promise((resolve) => {
    let answer = '';
    const socket = tcpConnect({ host, port }, () => socket.write(word));
    // A server still starting can accept the connection and never answer it.
    socket.setTimeout(2000, () => socket.destroy());
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('error', () => resolve(undefined));
    socket.on('close', () => resolve(answer || undefined));
  });
}

/** What the server at `endpoint` ("host:port") answers to a four-letter word, or undefined. */
export function fourLetterWord(endpoint, word) {
  return fourLetter(Number(endpoint.slice(endpoint.lastIndexOf(':') + 1)), word, endpoint.slice(0, endpoint.lastIndexOf(':')));
}

/**
 * The packets the server at `endpoint` ("host:port") has received from clients since it started
 * (`srvr`'s "Received"), or undefined when it does not answer `srvr`. Each `srvr` is itself counted
 * as one packet, so a run between two readings sent `after - before - 1` requests.
 */
export async function packetsReceived(endpoint) {
  const [host, port] = [endpoint.slice(0, endpoint.lastIndexOf(':')), Number(endpoint.slice(endpoint.lastIndexOf(':') + 1))];
  const received = /Received: (\d+)/.exec((await fourLetter(port, 'srvr', host)) ?? '')?.[1];
  return received === undefined ? undefined : Number(received);
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
    [`tickTime=2000`, `dataDir=${join(dir, 'data')}`, `clientPort=${port}`, 'clientPortAddress=127.0.0.1', 'admin.enableServer=false', '4lw.commands.whitelist=srvr,mntr', 'maxClientCnxns=0'].join('\n') + '\n',
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

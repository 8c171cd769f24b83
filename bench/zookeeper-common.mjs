// Shared by the ZooKeeper benchmarks: a server (BATON_BENCH_ZOOKEEPER_ENDPOINTS, else the Debian
// ZooKeeper jar started with java on a free loopback port), the peers' programs, machine facts.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { appendToBenchmarks as appendSection, freePort } from './common.mjs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const INTEROP_DIR = fileURLToPath(new URL('../test/interop/', import.meta.url));
const JARS = '/usr/share/java';
export const CURATOR_CLASSPATH = ['curator-recipes', 'curator-framework', 'curator-client', 'slf4j-nop'].map((j) => `${JARS}/${j}.jar`).join(':');


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

/** Compiles CuratorPeer.java into a temp dir; returns the java classpath, or undefined without javac. */
export function compileCurator() {
  try {
    const out = mkdtempSync(join(tmpdir(), 'baton-curator-'));
    execFileSync('javac', ['-d', out, '-cp', CURATOR_CLASSPATH, join(INTEROP_DIR, 'CuratorPeer.java')], { stdio: 'pipe' });
    return { classpath: `${out}:${CURATOR_CLASSPATH}`, remove: () => rmSync(out, { recursive: true, force: true }) };
  } catch (error) {
    console.error(`Curator not measured: ${error.message.split('\n')[0]}`);
    return undefined;
  }
}

/** Runs a peer program and resolves with its RESULT line's numbers. */
export function runPeer(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('exit', (code) => {
      const match = /RESULT (\d+) ([\d.]+)/.exec(out);
      if (match) resolve({ count: Number(match[1]), seconds: Number(match[2]) });
      else reject(new Error(`${command} exited with ${code}: ${err.slice(-2000)}`));
    });
  });
}

/** nproc, CPU model, node and ZooKeeper versions, and peers' versions, for the record. */
export function machine(zookeeperVersion) {
  const version = (cmd, args, pattern) => {
    const result = spawnSync(cmd, args, { encoding: 'utf8' });
    return pattern.exec(`${result.stdout ?? ''}${result.stderr ?? ''}`)?.[1] ?? '?';
  };
  const pkg = JSON.parse(readFileSync(new URL('../node_modules/node-zookeeper-client/package.json', import.meta.url), 'utf8'));
  return {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? '?',
    node: process.version,
    zookeeper: zookeeperVersion,
    nodeZookeeperClient: pkg.version,
    java: version('java', ['-version'], /version "([^"]+)"/),
    python: version('/usr/bin/python3', ['--version'], /Python (\S+)/),
  };
}

/** Appends `text` under the "ZooKeeper" heading of docs/benchmarks.md. */
export function appendToBenchmarks(text) {
  appendSection('ZooKeeper', text);
}

// Shared by the etcd benchmarks: a server (BATON_BENCH_ETCD_ENDPOINTS, else the local etcd binary
// on free loopback ports with a temp data dir), machine facts, and the Go peer's build.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { freePort } from './common.mjs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export { arg, flag } from './common.mjs';

function etcdVersion() {
  try {
    return /etcd Version: (\S+)/.exec(execFileSync('etcd', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `{ endpoints, version, stop }` for one etcd member with default settings. */
export async function etcdServer() {
  const fromEnv = process.env.BATON_BENCH_ETCD_ENDPOINTS?.trim();
  if (fromEnv) return { endpoints: fromEnv.split(','), version: 'external', stop: async () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-etcd-'));
  const [client, peer] = [await freePort(), await freePort()];
  const child = spawn(
    'etcd',
    [
      '--name=bench',
      `--data-dir=${join(dir, 'data')}`,
      `--listen-client-urls=http://127.0.0.1:${client}`,
      `--advertise-client-urls=http://127.0.0.1:${client}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=bench=http://127.0.0.1:${peer}`,
      '--log-level=error',
    ],
    { stdio: 'ignore' },
  );
  const endpoints = [`127.0.0.1:${client}`];
  const { Etcd3 } = await import('etcd3');
  const probe = new Etcd3({ hosts: endpoints });
  for (let i = 0; ; i++) {
    try {
      await probe.get('probe').string();
      break;
    } catch (error) {
      if (i > 100) throw new Error(`etcd did not start: ${error}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  probe.close();
  return {
    endpoints,
    version: etcdVersion(),
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Machine and software facts for the report. */
export function machine(etcd) {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../node_modules/etcd3/package.json', import.meta.url)), 'utf8'));
  let nproc = String(cpus().length);
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // os.cpus() then
  }
  return { nproc, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, etcd, etcd3: pkg.version, load: loadavg()[0].toFixed(1) };
}

/**
 * Builds bench/peers/etcd_peer.go (Go's own clientv3 and concurrency package) with Debian's Go and
 * etcd sources (golang-go, golang-etcd-server-dev); cached in the temp dir by source hash. Returns
 * the binary's path; throws (with the compiler's stderr) when it cannot be built.
 */
export function buildGoPeer() {
  const source = fileURLToPath(new URL('./peers/etcd_peer.go', import.meta.url));
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
  const binary = join(tmpdir(), `baton-bench-etcd-peer-${hash}`);
  if (existsSync(binary)) return binary;
  execFileSync('go', ['build', '-o', binary, source], {
    env: { ...process.env, GOPATH: '/usr/share/gocode', GO111MODULE: 'off', GOFLAGS: '' },
    stdio: 'pipe',
  });
  return binary;
}

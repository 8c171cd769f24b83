// Shared by the etcd benchmarks: a server (BATON_BENCH_ETCD_ENDPOINTS, else the local etcd binary
// on free loopback ports with a temp data dir), machine facts, and appending to docs/benchmarks.md.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { appendToBenchmarks as appendSection, freePort } from './common.mjs';
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

/** Appends `section` under the "etcd" heading of docs/benchmarks.md. */
export function appendToBenchmarks(section) {
  appendSection('etcd', section);
}

/**
 * The algorithm of Go's `concurrency.Mutex` (client/v3/concurrency, etcd 3.4), written with
 * etcd3 for a same-run reference: one transaction (create the own key if absent, read the first
 * key), then for each older key: read the newest key created before ours, and watch it for its
 * deletion FROM THAT READ'S REVISION. A watch starting at a revision that is not in the future is
 * an "unsynced" watch in etcd, served by a loop that runs every 100 ms. Then read the own key.
 */
export class GoStyleMutex {
  constructor(client, lease, name) {
    this.client = client;
    this.lease = lease;
    this.prefix = `${name}/`;
  }

  async lock() {
    const leaseId = await this.lease.grant();
    const myKey = `${this.prefix}${BigInt(leaseId).toString(16)}`;
    const key = Buffer.from(myKey);
    const { Range } = await import('etcd3');
    const range = Range.prefix(this.prefix);
    const res = await this.client.kv.txn({
      compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }],
      success: [
        { request_put: { key, value: Buffer.from(''), lease: leaseId } },
        { request_range: { key: range.start, range_end: range.end, sort_order: 'Ascend', sort_target: 'Create', limit: 1 } },
      ],
      failure: [{ request_range: { key } }],
    });
    const myRev = BigInt(res.succeeded ? res.header.revision : res.responses[0].response_range.kvs[0].create_revision);
    const owner = res.succeeded ? res.responses[1].response_range.kvs[0] : undefined;
    if (!owner || BigInt(owner.create_revision) !== myRev) {
      // waitDeletes: the newest key created before ours, until none is left.
      for (;;) {
        const older = await this.client.kv.range({
          key: range.start,
          range_end: range.end,
          max_create_revision: String(myRev - 1n),
          sort_order: 'Descend',
          sort_target: 'Create',
          limit: 1,
        });
        const last = older.kvs[0];
        if (!last) break;
        await this.#waitDelete(last.key, older.header.revision);
      }
    }
    await this.client.kv.range({ key });
    this.myKey = key;
    this.myRev = myRev;
  }

  async #waitDelete(key, revision) {
    const watcher = await this.client.watch().key(key).startRevision(String(revision)).create();
    await new Promise((resolve) => watcher.on('delete', resolve));
    await watcher.cancel();
  }

  async unlock() {
    await this.client.kv.deleteRange({ key: this.myKey });
  }
}

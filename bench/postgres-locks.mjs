// PostgreSQL, one run on one server (Debian's PostgreSQL 15, a throw-away cluster made with
// initdb on a free loopback port, or BATON_BENCH_POSTGRES_URL):
// 1. uncontended: one client acquiring and releasing a free mutex in a loop, Baton against a raw
//    INSERT + DELETE of one row by one node-postgres client (two round trips, as Baton's), ms per pair;
// 2. contended: 8 clients (each its own coordinator or connection) looping acquire -> release on
//    one lock for a fixed time, Baton's FIFO mutex against pg_advisory_lock / pg_advisory_unlock
//    on the same server: handoffs per second, and fairness as the longest wait against the mean.
//
//   npm run build && node bench/postgres-locks.mjs [--iterations 2000] [--clients 8] [--seconds 5] [--no-docs]
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { connect } from '../dist/index.js';
import { arg, flag, freePort, machineLine, utcMinute, writeSection } from './common.mjs';

const iterations = arg('iterations', 2000);
const clients = arg('clients', 8);
const seconds = arg('seconds', 5);
const BIN = process.env.BATON_TEST_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';

/** A throw-away cluster owned by `nobody` when we are root (postgres refuses to run as root). */
async function postgresServer() {
  const fromEnv = process.env.BATON_BENCH_POSTGRES_URL?.trim();
  if (fromEnv) return { url: fromEnv, config: { connectionString: fromEnv }, stop: async () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-postgres-'));
  const owner = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  if (owner.uid !== undefined) chownSync(dir, owner.uid, owner.gid);
  chmodSync(dir, 0o700);
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, 'bench\n', { mode: 0o600 });
  if (owner.uid !== undefined) chownSync(pwfile, owner.uid, owner.gid);
  const env = { PATH: process.env.PATH, LC_ALL: 'C' };
  const init = spawnSync(join(BIN, 'initdb'), ['-D', join(dir, 'data'), '-U', 'bench', `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '-N', '-E', 'UTF8', '--locale=C'], {
    ...owner,
    env,
    encoding: 'utf8',
  });
  if (init.status !== 0) throw new Error(`initdb failed:\n${init.stderr}`);
  const port = await freePort();
  // Default durability settings (fsync and synchronous_commit on), as a real server has them.
  const child = spawn(join(BIN, 'postgres'), ['-D', join(dir, 'data'), '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`], {
    ...owner,
    env,
    stdio: 'ignore',
  });
  const config = { host: '127.0.0.1', port, user: 'bench', password: 'bench', database: 'postgres' };
  for (let i = 0; ; i++) {
    const probe = new pg.Client(config);
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.end();
      break;
    } catch (error) {
      if (i > 100) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url: `postgres://bench:bench@127.0.0.1:${port}/postgres`,
    config,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function time(label, n, fn) {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i); // warm-up
  const start = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  const ms = (performance.now() - start) / n;
  console.log(`${label.padEnd(40)} ${ms.toFixed(3)} ms per pair (${(1000 / ms).toFixed(0)}/s)`);
  return ms;
}

async function rawPair(server) {
  const client = new pg.Client(server.config);
  await client.connect();
  await client.query('CREATE TABLE IF NOT EXISTS bench_raw (key text PRIMARY KEY, value text NOT NULL)');
  const key = `bench/raw-${process.pid}`;
  try {
    return await time('raw INSERT + DELETE (node-postgres)', iterations, async () => {
      await client.query({ name: 'raw_insert', text: 'INSERT INTO bench_raw (key, value) VALUES ($1, $2)', values: [key, ''] });
      await client.query({ name: 'raw_delete', text: 'DELETE FROM bench_raw WHERE key = $1', values: [key] });
    });
  } finally {
    await client.end();
  }
}

async function batonPair(server) {
  const coord = await connect(server.url);
  const mutex = coord.mutex(`bench/uncontended-${process.pid}`);
  try {
    return await time('Baton acquire + release', iterations, async () => {
      const lease = await mutex.acquire();
      await lease.release();
    });
  } finally {
    await coord.close();
  }
}

/** Runs `clients` loops of acquire -> release for `seconds`; handoffs/s and the longest wait against the mean. */
async function contended(label, open) {
  const workers = await Promise.all(Array.from({ length: clients }, () => open()));
  let handoffs = 0;
  const waits = [];
  const until = performance.now() + seconds * 1000;
  let holders = 0;
  let overlap = false;
  await Promise.all(
    workers.map(async (worker) => {
      while (performance.now() < until) {
        const asked = performance.now();
        await worker.acquire();
        waits.push(performance.now() - asked);
        if (++holders > 1) overlap = true;
        handoffs++;
        holders--;
        await worker.release();
      }
    }),
  );
  await Promise.all(workers.map((worker) => worker.close()));
  if (overlap) throw new Error(`${label}: two holders at once`);
  const mean = waits.reduce((a, b) => a + b, 0) / waits.length;
  const max = Math.max(...waits);
  const rate = handoffs / seconds;
  console.log(`${label.padEnd(40)} ${rate.toFixed(0)} handoffs/s, mean wait ${mean.toFixed(1)} ms, longest ${max.toFixed(1)} ms`);
  return { rate, mean, max };
}

function batonWorker(server, name) {
  return async () => {
    const coord = await connect(server.url);
    const mutex = coord.mutex(name);
    let lease;
    return {
      acquire: async () => {
        lease = await mutex.acquire();
      },
      release: () => lease.release(),
      close: () => coord.close(),
    };
  };
}

function advisoryWorker(server, lockId) {
  return async () => {
    const client = new pg.Client(server.config);
    await client.connect();
    return {
      acquire: () => client.query({ name: 'lock', text: 'SELECT pg_advisory_lock($1)', values: [lockId] }),
      release: () => client.query({ name: 'unlock', text: 'SELECT pg_advisory_unlock($1)', values: [lockId] }),
      close: () => client.end(),
    };
  };
}

const server = await postgresServer();
const results = {};
let serverVersion = 'unknown';
try {
  const probe = new pg.Client(server.config);
  await probe.connect();
  serverVersion = (await probe.query('SHOW server_version')).rows[0].server_version;
  await probe.end();
  await batonPair(server); // discarded warm-up (schema creation, JIT)
  results.raw = await rawPair(server);
  results.baton = await batonPair(server);
  results.rawAgain = await rawPair(server);
  results.batonAgain = await batonPair(server);
  results.advisory = await contended('pg_advisory_lock, 8 clients', advisoryWorker(server, 4242));
  results.batonContended = await contended('Baton mutex, 8 clients', batonWorker(server, `bench/contended-${process.pid}`));
} finally {
  await server.stop();
}

if (!flag('no-docs')) {
  const pgVersion = JSON.parse(readFileSync(fileURLToPath(new URL('../node_modules/pg/package.json', import.meta.url)), 'utf8')).version;
  const ratio = (results.baton + results.batonAgain) / (results.raw + results.rawAgain);
  const row = (label, r) => `| ${label} | ${r.rate.toFixed(0)} | ${r.mean.toFixed(1)} | ${r.max.toFixed(1)} |`;
  writeSection(
    'PostgreSQL',
    [
      `Run ${utcMinute()} UTC with \`node bench/postgres-locks.mjs --iterations ${iterations} --clients ${clients} --seconds ${seconds}\`, one PostgreSQL ${serverVersion} server on loopback (a fresh cluster, default durability settings: fsync and synchronous_commit on), one run.`,
      '',
      '### Uncontended acquire + release against a raw INSERT + DELETE',
      '',
      `One client, ${iterations} pairs each, interleaved (raw, Baton, raw, Baton). The raw pair is one node-postgres connection inserting and deleting one row with prepared statements: two round trips and two commits, as Baton's acquire (one call of the \`enqueue\` function) and release (one guarded delete).`,
      '',
      '| operation | ms per pair, first | ms per pair, second |',
      '|---|---|---|',
      `| raw INSERT + DELETE (node-postgres) | ${results.raw.toFixed(3)} | ${results.rawAgain.toFixed(3)} |`,
      `| Baton acquire + release | ${results.baton.toFixed(3)} | ${results.batonAgain.toFixed(3)} |`,
      '',
      `Baton / raw: ${ratio.toFixed(2)}. What Baton adds per pair: the advisory lock on the prefix, the sweep of expired sessions' keys under it, the listing, the NOTIFY of each change (PostgreSQL serializes commits that notify), and the own-key watch.`,
      '',
      `### ${clients} clients on one lock against pg_advisory_lock`,
      '',
      `${clients} clients, each with its own connection (Baton: its own coordinator), loop acquire -> release on one lock for ${seconds} s. pg_advisory_lock is PostgreSQL's own session-level lock: one round trip to take, one to give back, the waiter woken inside the server, no fencing token, no FIFO promise, and the lock vanishes with the connection.`,
      '',
      '| lock | handoffs/s | mean wait, ms | longest wait, ms |',
      '|---|---|---|---|',
      row('pg_advisory_lock / pg_advisory_unlock', results.advisory),
      row('Baton mutex (FIFO, fencing token)', results.batonContended),
      '',
      'Why the gap: pg_advisory_lock keeps its queue in shared memory and commits nothing, so a handoff costs no disk write. A Baton handoff is durable: the release is a committed delete (a WAL flush) before the next holder is woken, and the releaser\'s next enqueue another commit, taken under the prefix\'s advisory lock; on this disk a commit costs several milliseconds (see the raw INSERT + DELETE above). What the durable queue buys: FIFO order across clients, a fencing token per hold, holds that survive a reconnect or a server restart within the TTL, and fenced transactions.',
      '',
      machineLine([`PostgreSQL ${serverVersion}`, `pg ${pgVersion}`]),
    ].join('\n'),
  );
}

// Redis, one run on one server (Debian's redis-server on a free loopback port, no persistence):
// 1. uncontended: one client acquiring and releasing a free lock in a loop, Baton against a raw
//    SET NX PX + DEL of one key with ioredis (the least any Redis lock can cost), ms per pair;
// 2. contended: 8 clients (each its own connection) looping acquire -> release on one lock for a
//    fixed time, Baton against redlock and redis-semaphore's Mutex (each with its own defaults,
//    never giving up): handoffs per second, and fairness as the longest wait against the mean.
//
//   npm run build && node bench/redis-locks.mjs [--iterations 2000] [--clients 8] [--seconds 5] [--no-docs]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import Redlock from 'redlock';
import { Mutex as SemaphoreMutex } from 'redis-semaphore';
import { connect } from '../dist/index.js';
import { arg, flag, freePort, machineLine, utcMinute, writeSection } from './common.mjs';

const iterations = arg('iterations', 2000);
const clients = arg('clients', 8);
const seconds = arg('seconds', 5);

/** redis-server on a free loopback port with a temp dir and no persistence. */
async function redisServer() {
  const fromEnv = process.env.BATON_BENCH_REDIS_URL?.trim();
  if (fromEnv) {
    const url = new URL(fromEnv);
    return { host: url.hostname, port: Number(url.port), version: 'external', stop: async () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-redis-'));
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
    stdio: 'ignore',
  });
  const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => 100 });
  probe.on('error', () => {});
  await probe.connect();
  await probe.ping();
  const version = /redis_version:(\S+)/.exec(await probe.info('server'))?.[1] ?? 'unknown';
  probe.disconnect();
  return {
    host: '127.0.0.1',
    port,
    version,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const packageVersion = (name) =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`../node_modules/${name}/package.json`, import.meta.url)), 'utf8')).version;

async function time(label, n, fn) {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i); // warm-up
  const start = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  const ms = (performance.now() - start) / n;
  console.log(`${label.padEnd(40)} ${ms.toFixed(3)} ms per pair (${(1000 / ms).toFixed(0)}/s)`);
  return ms;
}

async function rawSetDel(server) {
  const client = new Redis({ host: server.host, port: server.port });
  const key = `bench:raw-${process.pid}`;
  try {
    return await time('raw SET NX PX + DEL (ioredis)', iterations, async () => {
      await client.set(key, 'x', 'PX', 10_000, 'NX');
      await client.del(key);
    });
  } finally {
    client.disconnect();
  }
}

async function batonUncontended(server) {
  const coord = await connect(`redis://${server.host}:${server.port}`);
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

/**
 * `clients` workers loop acquire -> release on one lock for `seconds`; each acquisition's wait
 * (call to grant) is recorded. Mutual exclusion is checked as they go.
 */
async function contended(label, makeWorker) {
  const workers = await Promise.all(Array.from({ length: clients }, (_, i) => makeWorker(i)));
  for (const worker of workers) {
    await worker.acquire();
    await worker.release();
  }
  const waits = [];
  let inside = 0;
  // A grant to the worker that held the lock just before: it released and took it straight back.
  let previous = -1;
  let regrants = 0;
  let running = true;
  const start = performance.now();
  const stopAt = start + seconds * 1000;
  await Promise.all(
    workers.map(async (worker, index) => {
      while (running) {
        const asked = performance.now();
        await worker.acquire();
        if (++inside !== 1) throw new Error(`${label}: mutual exclusion violated`);
        if (index === previous) regrants++;
        previous = index;
        waits.push(performance.now() - asked);
        if (performance.now() >= stopAt) running = false;
        inside--;
        await worker.release();
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  await Promise.all(workers.map((worker) => worker.close()));
  const mean = waits.reduce((a, b) => a + b, 0) / waits.length;
  const sorted = [...waits].sort((a, b) => a - b);
  const result = {
    label,
    count: waits.length,
    seconds: elapsed,
    rate: waits.length / elapsed,
    mean,
    p99: sorted[Math.floor(sorted.length * 0.99)] ?? 0,
    max: sorted[sorted.length - 1] ?? 0,
    regrants: waits.length ? regrants / waits.length : 0,
  };
  console.log(
    `${label.padEnd(40)} ${result.rate.toFixed(0)} acquisitions/s; wait mean ${mean.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, longest ${result.max.toFixed(1)} ms (${(result.max / mean).toFixed(1)} x mean); ${(result.regrants * 100).toFixed(0)}% taken straight back by the releaser`,
  );
  return result;
}

function batonWorkers(server) {
  const name = `bench/handoff-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  return async () => {
    const coord = await connect(`redis://${server.host}:${server.port}`);
    const mutex = coord.mutex(name);
    let lease;
    return { acquire: async () => void (lease = await mutex.acquire()), release: () => lease.release(), close: () => coord.close() };
  };
}

function redlockWorkers(server) {
  const resource = `bench:redlock-${process.pid}`;
  return async () => {
    const client = new Redis({ host: server.host, port: server.port });
    // Its defaults (retry every 200 ms +- 200 ms jitter), except that it never gives up.
    const redlock = new Redlock([client], { retryCount: -1 });
    let lock;
    return {
      acquire: async () => void (lock = await redlock.lock(resource, 10_000)),
      release: () => lock.unlock(),
      close: async () => client.disconnect(),
    };
  };
}

function semaphoreWorkers(server) {
  const key = `bench:semaphore-${process.pid}`;
  return async () => {
    const client = new Redis({ host: server.host, port: server.port });
    // Its defaults (polls every 10 ms), except that it never gives up within the run.
    const mutex = new SemaphoreMutex(client, key, { acquireTimeout: 600_000 });
    return { acquire: () => mutex.acquire(), release: () => mutex.release(), close: async () => client.disconnect() };
  };
}

const server = await redisServer();
const results = {};
try {
  await batonUncontended(server); // discarded warm-up (JIT, server caches)
  results.raw = await rawSetDel(server);
  results.baton = await batonUncontended(server);
  results.rawAgain = await rawSetDel(server);
  results.batonAgain = await batonUncontended(server);
  results.handoff = [];
  await contended('Baton (warm-up, discarded)', batonWorkers(server));
  results.handoff.push(await contended('Baton mutex', batonWorkers(server)));
  results.handoff.push(await contended(`redlock ${packageVersion('redlock')}`, redlockWorkers(server)));
  results.handoff.push(await contended(`redis-semaphore ${packageVersion('redis-semaphore')} Mutex`, semaphoreWorkers(server)));
  results.handoff.push(await contended('Baton mutex (again)', batonWorkers(server)));
} finally {
  await server.stop();
}

if (!flag('no-docs')) {
  const when = utcMinute();
  const pair = (label, ms) => `| ${label} | ${ms.toFixed(3)} | ${(1000 / ms).toFixed(0)} |`;
  const row = (r) =>
    `| ${r.label} | ${r.rate.toFixed(0)} | ${r.count} in ${r.seconds.toFixed(2)} s | ${r.mean.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${(r.max / r.mean).toFixed(1)} | ${(r.regrants * 100).toFixed(0)}% |`;
  writeSection(
    'Redis',
    [
      `### Uncontended and ${clients} clients on one lock, against redlock and redis-semaphore`,
      '',
      `\`node bench/redis-locks.mjs --iterations ${iterations} --clients ${clients} --seconds ${seconds}\`, ${when} UTC, one run on one redis-server ${server.version} (loopback, no persistence, default settings).`,
      '',
      `Uncontended: one client acquires and releases a free lock ${iterations} times (after a discarded warm-up); the reference is the least a Redis lock can cost, a raw \`SET key x PX 10000 NX\` then \`DEL key\` with ioredis (two round trips). Baton's pair is two scripts: enqueue (create the entry and list the queue) and remove.`,
      '',
      '| client | ms per pair | pairs/s |',
      '|---|---|---|',
      pair('raw SET NX PX + DEL', results.raw),
      pair('Baton acquire + release', results.baton),
      pair('raw SET NX PX + DEL (again)', results.rawAgain),
      pair('Baton acquire + release (again)', results.batonAgain),
      '',
      `Contended: ${clients} clients, each its own connection, loop acquire -> release on one lock for ${seconds} s. Wait = from the acquire call to the grant. redlock runs with its defaults (retry every 200 ms, +-200 ms jitter) but retries for ever; redis-semaphore's Mutex with its defaults (polls every 10 ms) and a long acquire timeout. Baton grants in request order, woken by the release's notification. The last column is the share of acquisitions that went to the client that had just released: a lock that lets the releaser take it straight back counts many acquisitions that were no handoff at all, while its other clients wait.`,
      '',
      '| client | acquisitions/s | measured | mean wait ms | p99 wait ms | longest wait ms | longest / mean | taken straight back by the releaser |',
      '|---|---|---|---|---|---|---|---|',
      ...results.handoff.map(row),
      '',
      machineLine([`ioredis ${packageVersion('ioredis')}`]),
    ].join('\n'),
  );
}

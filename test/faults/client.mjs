/**
 * One client process of the fault suite: loops acquire -> protected work -> release against the
 * built library (run `npm run build` first) until the runner says stop, logging every step as a
 * JSON line stamped with process.hrtime.bigint() (CLOCK_MONOTONIC, shared by every process of the
 * machine). The same lines go to the runner over IPC, so that nemeses can aim at a moment (a
 * client between its read and its write, a client that holds).
 *
 * Plain JavaScript on purpose: it imports the built package exactly as a user would.
 *
 * Usage (by the runner): node client.mjs '<json options>'; see ClientOptions in scenarios.ts.
 */
import { openSync, writeSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatonError, connect } from '../../dist/index.js';
import { startStallMeter } from './stall-meter.mjs';

const options = JSON.parse(process.argv[2]);
const { id, url, recipe, name, permits, writeRatio, timeoutMs, workMs, resourcePort, counterKey, logFile } = options;
let { holdMs } = options;
const fd = openSync(logFile, 'a');

function log(ev, fields = {}) {
  const entry = { t: process.hrtime.bigint().toString(), c: id, ev, ...fields };
  writeSync(fd, `${JSON.stringify(entry)}\n`);
  if (process.connected) process.send(entry);
}

function describe(error) {
  return {
    name: error?.name ?? typeof error,
    message: String(error?.message ?? error).slice(0, 300),
    baton: error instanceof BatonError,
  };
}

// How long this process did not run after an acquire's deadline (not scheduled on a loaded
// machine, or stopped): the checker excuses that time from the acquire bound, like a pause.
const stalls = startStallMeter();
let deadline = 0;
const lagMs = () => stalls.notRunningMs(deadline);

let stopping = false;
let shortened = new AbortController();
const stopped = new AbortController();
process.on('message', (message) => {
  // The runner shortens a long hold (aimed at by a nemesis) once the faults are over.
  if (typeof message === 'object' && typeof message.holdMs === 'number') {
    holdMs = message.holdMs;
    shortened.abort();
    shortened = new AbortController();
  }
  if (message === 'stop') {
    stopping = true;
    stopped.abort();
  }
});
process.on('disconnect', () => {
  stopping = true;
  stopped.abort();
});

const agent = new http.Agent({ keepAlive: true });
/** One request to the protected resource: { accepted, value }. */
function resource(path, payload) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port: resourcePort, path, method: 'POST', agent, timeout: 5000 },
      (response) => {
        let text = '';
        response.on('data', (chunk) => (text += chunk));
        response.on('end', () => resolve(JSON.parse(text)));
      },
    );
    request.on('timeout', () => request.destroy(new Error('resource timeout')));
    request.on('error', reject);
    request.end(JSON.stringify(payload));
  });
}

function acquire(coord, mode) {
  // The stop signal ends a wait at once when the run is over.
  const opts = { timeoutMs, signal: stopped.signal };
  switch (recipe) {
    case 'mutex':
      return coord.mutex(name).acquire(opts);
    case 'semaphore':
      return coord.semaphore(name, { permits }).acquire(opts);
    case 'rwlock':
      return mode === 'read' ? coord.readWriteLock(name).read(opts) : coord.readWriteLock(name).write(opts);
    case 'election':
      return coord.election(name).campaign(`client-${id}`, opts);
    default:
      throw new Error(`unknown recipe ${recipe}`);
  }
}

/** Waits `ms`, ending early when `signal` aborts. */
async function hold(ms, signal) {
  if (ms <= 0 || signal.aborted) return;
  await sleep(ms, undefined, { signal: AbortSignal.any([signal, stopped.signal, shortened.signal]) }).catch(() => {});
}

/** Read, pause, write the counter + 1, carrying the hold's token. */
async function readModifyWrite(lease) {
  const token = lease.token.toString();
  log('read-invoke', { token });
  const read = await resource('/read', { c: id, token });
  log(read.accepted ? 'read' : 'read-refused', { token, value: read.value });
  if (!read.accepted) return;
  await sleep(workMs);
  // Deliberately no look at lease.signal first: such a check only narrows the window (the hold
  // can end right after it), and the resource's fencing is what must protect the counter.
  const value = read.value + 1;
  log('write-invoke', { token, value, holdEnded: lease.signal.aborted });
  const written = await resource('/write', { c: id, token, value });
  log(written.accepted ? 'write-ok' : 'write-refused', { token, value });
}

let guardedSeq = 0;
/** One increment of the counter kept in the backend: a key written only while the hold is valid. */
async function guardedIncrement(lease) {
  const token = lease.token.toString();
  const key = `${counterKey}/c${id}-${++guardedSeq}`;
  log('gwrite-invoke', { token, key });
  try {
    const committed = await lease.guardedWrite([{ put: key, value: token }]);
    log('gwrite-result', { token, key, committed });
  } catch (error) {
    log('gwrite-error', { token, key, error: describe(error) });
  }
}

async function work(lease, mode) {
  if (mode === 'read' || recipe === 'semaphore') {
    await sleep(workMs);
  } else if (counterKey) {
    await sleep(workMs);
    await guardedIncrement(lease);
  } else {
    await readModifyWrite(lease);
  }
  await hold(holdMs, lease.signal);
}

async function main() {
  log('start', { recipe, url });
  let coord;
  while (!coord) {
    try {
      coord = await connect(url);
    } catch (error) {
      // A cluster in the middle of an election may refuse a connection; a user would retry.
      log('connect-failed', { error: describe(error) });
      if (stopping) process.exit(2);
      await sleep(200);
    }
  }
  log('connected');
  while (!stopping) {
    const mode = recipe === 'rwlock' ? (Math.random() < writeRatio ? 'write' : 'read') : recipe === 'semaphore' ? 'permit' : 'exclusive';
    // The session the acquire starts on, to tell whose node a stuck queue is waiting behind.
    log('invoke', { mode, session: coord.health().session });
    stalls.reset();
    deadline = performance.now() + timeoutMs;
    let lease;
    try {
      lease = await acquire(coord, mode);
    } catch (error) {
      log('acquire-failed', { mode, error: describe(error), lagMs: lagMs() });
      // Not a tight loop while a cluster is down; short enough to keep the queue busy.
      await sleep(50 + Math.random() * 100);
      continue;
    }
    log('acquired', { mode, token: lease.token.toString(), key: lease.key, lagMs: lagMs() });
    const noticeLoss = () => {
      const reason = lease.signal.reason;
      if (reason?.name !== 'LeaseReleasedError') log('lost', { token: lease.token.toString(), reason: describe(reason) });
    };
    if (lease.signal.aborted) noticeLoss();
    else lease.signal.addEventListener('abort', noticeLoss, { once: true });
    try {
      await work(lease, mode);
    } catch (error) {
      log('work-error', { error: describe(error) });
    }
    log('release-invoke', { token: lease.token.toString() });
    try {
      await lease.release();
      log('released', { token: lease.token.toString() });
    } catch (error) {
      log('release-failed', { token: lease.token.toString(), error: describe(error) });
    }
  }
  log('close-invoke');
  try {
    await coord.close();
    log('closed');
  } catch (error) {
    log('close-failed', { error: describe(error) });
  }
  agent.destroy();
  process.exit(0);
}

function crash(error) {
  log('crash', { error: describe(error), stack: String(error?.stack ?? '').slice(0, 2000) });
  process.exit(1);
}
// An exception thrown from a library's event handler ends the process; it goes into the history.
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);
main().catch(crash);

/**
 * A watchdog for a test process whose event loop stops running: it writes where the main thread
 * is stuck, then kills the process, so that a run fails with a stack instead of hanging.
 *
 * Once, a test worker of the etcd transport tests spun for 17 minutes with its event loop blocked
 * (its test timeouts never fired) and was killed without a stack. Two kinds of spin look alike
 * from outside: a JavaScript loop, and Node's HTTP/2 layer looping in its send path (see
 * src/backends/etcd/transport/teardown.ts), which runs no JavaScript at all. So the watchdog, a
 * worker thread that keeps running while the main thread is stuck, takes both: the native stack
 * of the main thread (gdb, when installed) and its JavaScript stack (the inspector pauses a thread
 * that runs JavaScript; one stuck in native code never answers, which says as much).
 *
 * The main thread stamps the time on a shared counter every second; the worker looks every second
 * and acts when the stamp has been stale, and the main thread running (not asleep in a synchronous
 * wait such as a compiler run with execFileSync, where Linux tells), for `stuckMs`. The report
 * goes to stderr by a direct write (the process's own streams are served by the stuck thread) and
 * to `.tmp/stuck-<pid>.txt`.
 */
import { Worker } from 'node:worker_threads';

const WORKER = `
const { workerData } = require('node:worker_threads');
const { execFileSync } = require('node:child_process');
const { Session } = require('node:inspector');
const fs = require('node:fs');
const { beat, stuckMs, reportDir } = workerData;

function nativeStack() {
  try {
    const text = execFileSync('gdb', ['-p', String(process.pid), '-batch', '-ex', 'thread apply 1 bt 60'], {
      timeout: 60_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).toString();
    // Frames gdb cannot name (JIT code) say nothing: left out.
    return text.split('\\n').filter((line) => line.startsWith('#') && !line.includes(' in ?? (')).join('\\n');
  } catch (error) {
    return '(no native stack: ' + error.message.split('\\n')[0] + ')';
  }
}

function report(text) {
  try {
    fs.writeSync(2, text);
  } catch {}
  try {
    fs.mkdirSync(reportDir, { recursive: true });
    fs.writeFileSync(reportDir + '/stuck-' + process.pid + '.txt', text);
  } catch {}
  process.kill(process.pid, 'SIGKILL');
}

/** The main thread's scheduler state (R running, S sleeping, ...), where Linux says. */
function mainThreadState() {
  try {
    const stat = fs.readFileSync('/proc/' + process.pid + '/task/' + process.pid + '/stat', 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
  } catch {
    return undefined;
  }
}

let busySince;
const timer = setInterval(() => {
  const blockedMs = Date.now() - Number(Atomics.load(beat, 0));
  const state = mainThreadState();
  // A loop that stops in a synchronous wait (a child run with execFileSync) sleeps: not a spin.
  if (blockedMs < 3000 || (state !== undefined && state !== 'R')) {
    busySince = undefined;
    return;
  }
  busySince ??= Date.now();
  if (Date.now() - busySince < stuckMs) return;
  clearInterval(timer);
  let text = '\\nloop-watchdog: the main thread of pid ' + process.pid + ' (' + process.argv.slice(1).join(' ') +
    ') ran no event loop for ' + blockedMs + ' ms, busy all along; killing it.\\nNative stack of the main thread:\\n' + nativeStack() + '\\n';
  const session = new Session();
  session.connectToMainThread();
  const giveUp = setTimeout(() => report(text + 'JavaScript stack: none (the main thread runs no JavaScript: stuck in native code)\\n'), 5000);
  session.on('Debugger.paused', ({ params }) => {
    clearTimeout(giveUp);
    const frames = params.callFrames.map((f) => '  at ' + (f.functionName || '(anonymous)') + ' (' + f.url + ':' + (f.location.lineNumber + 1) + ':' + (f.location.columnNumber + 1) + ')');
    report(text + 'JavaScript stack of the main thread:\\n' + frames.join('\\n') + '\\n');
  });
  session.post('Debugger.enable', () => session.post('Debugger.pause'));
}, 1000);
`;

/** Starts the watchdog for this process (once); it never keeps the process alive. */
export function startLoopWatchdog({ stuckMs = 90_000, reportDir = '.tmp' } = {}) {
  if (globalThis.__batonLoopWatchdog) return;
  globalThis.__batonLoopWatchdog = true;
  const beat = new BigInt64Array(new SharedArrayBuffer(8));
  const stamp = () => Atomics.store(beat, 0, BigInt(Date.now()));
  stamp();
  setInterval(stamp, 1000).unref();
  // No flags of the process (`--input-type=module` would make the worker's script a module).
  const worker = new Worker(WORKER, { eval: true, execArgv: [], workerData: { beat, stuckMs, reportDir } });
  worker.unref();
  // A watchdog that fails to start must not fail the tests.
  worker.on('error', () => {});
}

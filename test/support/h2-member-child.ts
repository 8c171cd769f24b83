/**
 * The etcd transport's client in a child process, against a plain HTTP/2 server on loopback that
 * plays a member and misbehaves on cue (resets a stream, says GOAWAY, drops the connection).
 *
 * Node's HTTP/2 layer can loop for ever in its send path when a stream is reset or a session
 * destroyed from inside one of its own stream events while a write on the session is still to be
 * flushed (see src/backends/etcd/transport/teardown.ts). A process stuck that way runs no timer
 * again and ignores every signal but SIGKILL, so the client runs in a child: the test sees it from
 * outside, and kills it, instead of freezing the test runner.
 *
 * In the child: the member, and the client's watch stream, lease keep-alive stream and one unary
 * call (Range, never answered) open on one session. Then `event` runs in the child's scope (the
 * member's side: `watch`, `keepAlive`, `call` are the member's ends of those streams, `session`
 * its session, `sockets` the TCP connections it accepted, `http2`), and `pending`, if given, on
 * the next turn: a write of the client made after its own flush of this turn, so that it is still
 * scheduled when the client reads what the member sent. 300 ms later (a process that still runs
 * its timers) the client makes one more call, which the member answers: the child reports
 * `timers run; answered` when the client got through to the member again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

// The built modules (`npm test` builds first), so that the child starts in milliseconds.
const TRANSPORT = fileURLToPath(new URL('../../dist/backends/etcd/transport/client.js', import.meta.url));
const KEEPER = fileURLToPath(new URL('../../dist/backends/etcd/lease-keeper.js', import.meta.url));

/** What the child reports when it ran its timers and the client got an answer afterwards. */
export const RESPONSIVE = 'timers run; answered';

/** Client-side writes on the session that `pending` may use. */
export const pendingWrites = {
  /** A second watch created on the watch stream: a DATA frame on an open stream. */
  watchCreate: `client.watches.watch(Buffer.from('c'), Buffer.from('d'), quiet);`,
  /** A new unary call: HEADERS and DATA of a new stream. */
  call: `client.range({ key: Buffer.from('p') }, { budgetMs: 200 }).catch(() => {});`,
} as const;

function childScript(event: string, pending: string): string {
  return `
  import http2 from 'node:http2';
  const { EtcdClient } = await import(${JSON.stringify(TRANSPORT)});
  const { LeaseKeeper } = await import(${JSON.stringify(KEEPER)});
  const streams = [];
  const sockets = [];
  let session;
  // Range calls that arrive after the event are answered (an empty RangeResponse, status OK).
  let answering = false;
  const server = http2.createServer();
  server.on('connection', (socket) => sockets.push(socket));
  server.on('session', (s) => {
    session = s;
    s.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    stream.on('data', () => {});
    stream.on('error', () => {});
    const path = String(headers[':path']);
    if (path.endsWith('/Range') && answering) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.alloc(5));
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    streams.push({ path, stream });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new EtcdClient({ endpoints: ['127.0.0.1:' + server.address().port], https: false });
  const quiet = { created() {}, events() {}, restarting() {}, refused() {} };
  client.watches.watch(Buffer.from('a'), Buffer.from('b'), quiet);
  const keeper = new LeaseKeeper(client, 1n, 30, performance.now(), () => {});
  client.range({ key: Buffer.from('k') }, { budgetMs: 5000 }).catch(() => {});
  while (streams.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
  const end = (suffix) => streams.find((s) => s.path.endsWith(suffix)).stream;
  const [watch, keepAlive, call] = [end('/Watch'), end('/LeaseKeepAlive'), end('/Range')];
  answering = true;
  ${event}
  setImmediate(() => {
    ${pending}
  });
  // A process that still runs its timers says so, once the client got through again.
  setTimeout(async () => {
    let answer = 'timers run; ';
    try {
      await client.range({ key: Buffer.from('after') }, { budgetMs: 5000 });
      answer += 'answered';
    } catch (error) {
      answer += 'no answer: ' + error.message;
    }
    process.send(answer);
    keeper.stop();
    client.close();
    server.close();
  }, 300);
`;
}

const running = new Set<ChildProcess>();

/** Kills every child still running (call from afterEach). */
export function killClientChildren(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/**
 * Runs the scene in a child and resolves to what it reports, or to a sentence saying that it is
 * stuck when it reports nothing within 10 s.
 */
export async function clientAnswer(event: string, pending = ''): Promise<string> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', childScript(event, pending)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  running.add(child);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      once(child, 'message').then(([message]) => message as string),
      once(child, 'exit').then(([code]) => `exited (code ${code}) without an answer`),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve('no answer within 10 s: the process is stuck'), 10_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
    running.delete(child);
  }
}

import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/args.js';
import { backendUrl } from '../../src/cli/backend.js';
import { CliError } from '../../src/cli/errors.js';
import type { Io } from '../../src/cli/io.js';
import { run } from '../../src/cli/run.js';

function capture(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { env, out: (text) => void out.push(text), err: (line) => void err.push(line) };
  return { io, out, err };
}

async function runWith(argv: string[], env: NodeJS.ProcessEnv = { BATON_BACKEND: 'etcd://127.0.0.1:1' }) {
  const c = capture(env);
  const code = await run(argv, c.io);
  return { code, out: c.out.join(''), err: c.err };
}

describe('parseArgs', () => {
  it('takes options before and after NAME, in both spellings, and the program after --', () => {
    const parsed = parseArgs(['lock', '--ttl', '5', 'jobs/a', '--timeout=2.5', '-v', '--grace', '0', '--', 'sh', '-c', 'echo --ttl']);
    expect(parsed).toMatchObject({
      kind: 'run',
      invocation: { command: 'lock', name: 'jobs/a', ttl: 5, timeout: 2.5, grace: 0, verbose: true, program: ['sh', '-c', 'echo --ttl'] },
    });
  });

  it('starts the program at the first word after NAME, without --, and reads no options past it', () => {
    const parsed = parseArgs(['semaphore', 'gpu', '--permits', '3', 'python', 'train.py', '--timeout', '9']);
    expect(parsed).toMatchObject({ kind: 'run', invocation: { permits: 3, timeout: undefined, program: ['python', 'train.py', '--timeout', '9'] } });
  });

  it('defaults --grace to 10 seconds and leaves ttl and timeout unset', () => {
    const parsed = parseArgs(['elect', 'x', '--value', 'v1', '--', 'true']);
    expect(parsed).toMatchObject({ kind: 'run', invocation: { grace: 10, ttl: undefined, timeout: undefined, value: 'v1' } });
  });

  it('recognises help and version in their forms', () => {
    expect(parseArgs(['--help'])).toEqual({ kind: 'help', command: undefined });
    expect(parseArgs(['help', 'status'])).toEqual({ kind: 'help', command: 'status' });
    expect(parseArgs(['lock', '--help'])).toEqual({ kind: 'help', command: 'lock' });
    expect(parseArgs(['observe', 'x', '-h'])).toEqual({ kind: 'help', command: 'observe' });
    expect(parseArgs(['--version'])).toEqual({ kind: 'version' });
  });

  it('throws usage errors, not anything else', () => {
    expect(() => parseArgs(['lock'])).toThrow(CliError);
    expect(() => parseArgs(['lock'])).toThrow(/missing NAME/);
  });
});

describe('backendUrl', () => {
  it('prefers --backend over BATON_BACKEND', () => {
    expect(backendUrl('etcd://a:1', undefined, { BATON_BACKEND: 'etcd://b:2' }, 'lock')).toBe('etcd://a:1');
    expect(backendUrl(undefined, undefined, { BATON_BACKEND: 'etcd://b:2' }, 'lock')).toBe('etcd://b:2');
  });

  it('writes --ttl as etcd ttl (seconds) and ZooKeeper sessionTimeout (ms), keeping other parameters', () => {
    expect(backendUrl('etcd://a:1,b:2?namespace=app/', 7, {}, 'lock')).toBe('etcd://a:1,b:2?namespace=app%2F&ttl=7');
    expect(backendUrl('etcd://a:1?ttl=30', 7, {}, 'lock')).toBe('etcd://a:1?ttl=7');
    expect(backendUrl('zookeeper://a:1,b:2/chroot', 4, {}, 'lock')).toBe('zookeeper://a:1,b:2/chroot?sessionTimeout=4000');
  });

  it('refuses a ZooKeeper --ttl out of range in seconds, the unit typed (not as a sessionTimeout in ms)', () => {
    expect(() => backendUrl('zookeeper://a:1', 100_000, {}, 'lock')).toThrow(/invalid --ttl 100000: on ZooKeeper --ttl must be from 0.1 to 3600 seconds/);
    expect(() => backendUrl('zookeeper://a:1', 100_000, {}, 'lock')).not.toThrow(/100000000/);
  });

  it('refuses memory:// saying why and what to set', () => {
    expect(() => backendUrl('memory://', undefined, {}, 'lock')).toThrow(/inside one process.*BATON_BACKEND.*etcd/);
    expect(() => backendUrl(undefined, undefined, { BATON_BACKEND: 'MEMORY://' }, 'lock')).toThrow(/BATON_BACKEND is "MEMORY:\/\/"/);
    expect(() => backendUrl(undefined, undefined, {}, 'lock')).toThrow(/no backend: pass --backend URL or set BATON_BACKEND/);
  });
});

describe('bad arguments: one-line reason, usage hint, exit 64, no stack trace', () => {
  const cases: [string, string[], RegExp, NodeJS.ProcessEnv?][] = [
    ['no command', [], /missing command/],
    ['unknown command', ['grab', 'x'], /unknown command "grab": expected one of lock, semaphore/],
    ['unknown top-level option', ['--frob'], /unknown option --frob/],
    ['missing NAME', ['lock'], /missing NAME/],
    ['missing program', ['lock', 'x'], /missing the command to run/],
    ['missing program after --', ['lock', 'x', '--'], /missing the command to run/],
    ['unknown option', ['lock', 'x', '--wait', '3', '--', 'true'], /unknown option --wait for baton lock: it accepts --backend/],
    ['unknown short option', ['lock', '-x', 'x', '--', 'true'], /unknown option -x/],
    ['option of another command', ['lock', 'x', '--permits', '2', '--', 'true'], /baton lock does not take --permits/],
    ['--json on a holding command', ['elect', 'x', '--json', '--', 'true'], /baton elect does not take --json/],
    ['missing option value', ['lock', 'x', '--ttl'], /--ttl needs a value: --ttl SECONDS/],
    ['option value swallowed by --', ['lock', 'x', '--timeout', '--', 'true'], /--timeout needs a value/],
    ['value on a flag', ['status', 'x', '--json=yes'], /--json takes no value/],
    ['bad --ttl', ['lock', 'x', '--ttl', 'ten', '--', 'true'], /invalid --ttl "ten": expected a whole number of seconds/],
    ['fractional --ttl', ['lock', 'x', '--ttl', '1.5', '--', 'true'], /invalid --ttl "1.5"/],
    ['zero --ttl', ['lock', 'x', '--ttl', '0', '--', 'true'], /invalid --ttl "0"/],
    ['negative --timeout', ['lock', 'x', '--timeout', '-1', '--', 'true'], /invalid --timeout "-1"/],
    ['huge --timeout', ['lock', 'x', '--timeout', '1e12', '--', 'true'], /invalid --timeout "1e12"/],
    ['bad --grace', ['lock', 'x', '--grace', '', '--', 'true'], /invalid --grace ""/],
    ['semaphore without --permits', ['semaphore', 'x', '--', 'true'], /missing --permits N/],
    ['zero permits', ['semaphore', 'x', '--permits', '0', '--', 'true'], /invalid --permits "0"/],
    ['fractional permits', ['semaphore', 'x', '--permits', '1.5', '--', 'true'], /invalid --permits "1.5"/],
    ['two names on a read command', ['leader', 'x', 'y'], /unexpected argument "y": baton leader takes one NAME/],
    ['-- on a read command', ['status', 'x', '--', 'true'], /baton status runs no command/],
    ['bad name', ['lock', 'jobs//x', '--', 'true'], /invalid name "jobs\/\/x" \(an empty segment\)/],
    ['memory backend', ['lock', 'x', '--backend', 'memory://', '--', 'true'], /memory backend lives inside one process/],
    ['no backend', ['status', 'x'], /no backend/, {}],
    ['unknown scheme', ['status', 'x', '--backend', 'mqtt://h:1'], /unknown backend scheme "mqtt:\/\/"/],
    ['malformed URL', ['leader', 'x', '--backend', 'localhost:2379'], /invalid --backend|invalid config URL|expected scheme/],
    ['--ttl on an unknown scheme', ['lock', 'x', '--ttl', '5', '--backend', 'mqtt://h:1', '--', 'true'], /--ttl needs an etcd:\/\/, zookeeper:\/\/ or redis:\/\//],
    ['help for an unknown command', ['help', 'grab'], /unknown command "grab"/],
  ];
  for (const [title, argv, reason, env] of cases) {
    it(title, async () => {
      const result = await runWith(argv, env);
      expect(result.code).toBe(64);
      expect(result.out).toBe('');
      expect(result.err).toHaveLength(2);
      const [line, hint] = result.err as [string, string];
      expect(line).toMatch(reason);
      expect(line).not.toContain('\n');
      expect(line).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
      expect(hint).toMatch(/^run 'baton (\w+ )?--help' for usage$/);
    });
  }
});

describe('help', () => {
  it('baton --help lists every command with examples and exit codes', async () => {
    const result = await runWith(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['lock', 'semaphore', 'elect', 'leader', 'observe', 'status']) expect(result.out).toContain(`baton ${command} NAME`);
    expect(result.out).toContain('Examples:');
    expect(result.out).toMatch(/64 bad arguments; 69 backend .*75 --timeout/s);
  });

  for (const command of ['lock', 'semaphore', 'elect', 'leader', 'observe', 'status']) {
    it(`baton ${command} --help has usage and examples`, async () => {
      const result = await runWith([command, '--help']);
      expect(result.code).toBe(0);
      expect(result.out).toMatch(new RegExp(`^Usage: baton ${command} NAME`));
      expect(result.out).toContain('Examples:');
      expect(result.err).toEqual([]);
    });
  }

  it('--help wins over other errors on the line', async () => {
    const result = await runWith(['lock', '--ttl', 'zzz', '--help']);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^Usage: baton lock/);
  });
});

describe('backend failures', () => {
  it('a backend that does not answer gives exit 69 and one line, after --timeout but at least 5 s', async () => {
    // A server that accepts connections and never says a word: the connect can only time out.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const started = Date.now();
      const result = await runWith(['lock', '--timeout', '1', '--backend', `zookeeper://user:secret@127.0.0.1:${port}`, 'x', '--', 'true']);
      expect(result.code).toBe(69);
      expect(result.err).toEqual([`could not connect to zookeeper://user:***@127.0.0.1:${port} within 5 s`]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
      expect(Date.now() - started).toBeLessThan(9000);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('a refused connection gives exit 69 at once, saying it was refused', async () => {
    const started = Date.now();
    const result = await runWith(['lock', '--timeout', '1', '--backend', 'zookeeper://user:secret@127.0.0.1:1', 'x', '--', 'true']);
    expect(result.code).toBe(69);
    expect(result.err).toEqual(['could not connect to ZooKeeper: connection refused at 127.0.0.1:1']);
    expect(Date.now() - started).toBeLessThan(4900);
  });

  it('bounds connecting by --timeout within 5 to 30 seconds', async () => {
    const { connectSeconds } = await import('../../src/cli/backend.js');
    expect([connectSeconds(undefined), connectSeconds(0), connectSeconds(0.3), connectSeconds(12), connectSeconds(600)]).toEqual([30, 5, 5, 12, 30]);
  });
});


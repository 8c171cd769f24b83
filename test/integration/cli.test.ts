/**
 * The `baton` command against real servers: exclusion and FIFO order across processes, tokens,
 * exit codes, signals, loss, status, election, and interop with etcdctl.
 *
 * Synchronisation is by events only: a child's output line ("started"), baton's own
 * `--verbose` lines ("queued ... at position N"), a process's exit. Children block on a line
 * from their stdin, which the test writes to release them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ETCDCTL_BINARY, startEtcd } from '../support/etcd-server.js';
import { startZooKeeper } from '../support/zookeeper-server.js';
import { tempDir } from '../support/servers.js';
import { ensureBuilt, type Proc, Procs } from './cli-harness.js';
import { connect } from '../../src/index.js';
import { until } from '../support/until.js';

interface Server {
  readonly kind: 'etcd' | 'zookeeper';
  readonly url: string;
  /** What etcdctl needs to reach the server (etcd only). */
  readonly etcdctlArgs: string[];
  /** Kills the server, keeping its data; undefined for servers that cannot be controlled. */
  readonly kill: (() => Promise<void>) | undefined;
  /** Starts it again. */
  readonly restart: () => Promise<void>;
  stop(): Promise<void>;
}

async function etcdServer(): Promise<Server | undefined> {
  const etcd = await startEtcd();
  if (!etcd) return undefined;
  return {
    kind: 'etcd',
    url: etcd.url(),
    etcdctlArgs: etcd.etcdctlArgs(),
    kill: etcd.controllable ? () => etcd.stopMember(0, true) : undefined,
    restart: () => etcd.startMember(0),
    stop: () => etcd.stop(),
  };
}

async function zooKeeperServer(): Promise<Server | undefined> {
  const zk = await startZooKeeper(1);
  if (!zk) return undefined;
  return {
    kind: 'zookeeper',
    url: zk.url(),
    etcdctlArgs: [],
    kill: zk.controllable ? () => zk.stopServer(0, true) : undefined,
    restart: () => zk.startServer(0),
    stop: () => zk.stop(),
  };
}

ensureBuilt();
const servers = { etcd: await etcdServer(), zookeeper: await zooKeeperServer() };
afterAll(async () => {
  await Promise.all(Object.values(servers).map((server) => server?.stop()));
});

let dir: { path: string; remove: () => Promise<void> };
const procs = new Procs();
beforeAll(async () => {
  dir = await tempDir('cli');
});
afterAll(async () => {
  await dir?.remove();
});
afterEach(async () => {
  await procs.cleanup();
});

let counter = 0;
/** A fresh lock name per test, so tests never see each other's keys. */
function uniqueName(label: string): string {
  counter += 1;
  return `cli-test/${label}-${process.pid}-${counter}`;
}

/** A child that logs its start, says "started", waits for a line on stdin, logs its end. */
const HOLDER = 'echo "start $N $BATON_TOKEN $BATON_KEY" >> "$LOG"; echo "started $N $BATON_TOKEN $BATON_KEY"; read x; echo "end $N" >> "$LOG"';

function readLog(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

for (const kind of ['etcd', 'zookeeper'] as const) {
  const server = servers[kind];
  describe.skipIf(!server)(`baton on ${kind}`, () => {
    const srv = server as Server;
    const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...process.env, BATON_BACKEND: srv.url, ...extra });
    /**
     * Starts `count` `baton lock NAME -- HOLDER` processes, numbered from 1, each only once the one
     * before is visibly holding or queued behind the others, so their request order is known.
     */
    const queueHolders = async (name: string, log: string, count: number): Promise<Proc[]> => {
      const started: Proc[] = [];
      for (let n = 1; n <= count; n++) {
        const proc = procs.baton(['lock', '-v', name, '--', 'sh', '-c', HOLDER], env({ N: String(n), LOG: log }), `baton #${n}`);
        started.push(proc);
        if (n === 1) await proc.waitFor('stdout', /^started 1 /m);
        else await proc.waitFor('stderr', new RegExp(`queued for lock "${name}" at position ${n - 2} `));
      }
      return started;
    };

    it('five concurrent baton lock processes never overlap and run in the order they queued, tokens increasing', async () => {
      const name = uniqueName('five');
      const log = join(dir.path, `${kind}-five.log`);
      const batons = await queueHolders(name, log, 5);
      const started: number[] = [];
      for (let round = 0; round < 5; round++) {
        // Whoever starts next: the test does not decide the order, the lock does.
        const next = await Promise.race(
          batons.map((proc, i) => (started.includes(i + 1) ? new Promise<never>(() => {}) : proc.waitFor('stdout', /^started /m).then(() => i + 1))),
        );
        started.push(next);
        const proc = batons[next - 1] as Proc;
        proc.send();
        expect(await proc.exited, proc.describe()).toBe(0);
      }
      expect(started).toEqual([1, 2, 3, 4, 5]);
      const lines = readLog(log);
      expect(lines).toHaveLength(10);
      const tokens: bigint[] = [];
      for (let n = 1; n <= 5; n++) {
        const start = lines[2 * (n - 1)] as string;
        expect(start).toMatch(new RegExp(`^start ${n} \\d+ \\S+$`));
        expect(lines[2 * (n - 1) + 1]).toBe(`end ${n}`);
        tokens.push(BigInt(start.split(' ')[2] as string));
      }
      for (let i = 1; i < tokens.length; i++) expect(tokens[i]! > tokens[i - 1]!, `tokens ${tokens.join(', ')}`).toBe(true);
    });

    it("returns the command's exit code, and 128+N for a command killed by signal N", async () => {
      const name = uniqueName('exit');
      expect(await procs.baton(['lock', name, '--', 'sh', '-c', 'exit 42'], env()).exited).toBe(42);
      expect(await procs.baton(['lock', name, '--', 'sh', '-c', 'kill -KILL $$'], env()).exited).toBe(137);
      const notFound = procs.baton(['lock', name, '--', '/nonexistent/cmd'], env());
      expect(await notFound.exited).toBe(127);
      expect(notFound.output.stderr).toMatch(/cannot run "\/nonexistent\/cmd": command not found/);
    });

    it('gives the child BATON_NAME, BATON_KEY and BATON_TOKEN, and releases the lock when it exits', async () => {
      const name = uniqueName('env');
      const first = procs.baton(['lock', name, '--', 'sh', '-c', 'echo "$BATON_NAME|$BATON_KEY|$BATON_TOKEN"'], env());
      expect(await first.exited, first.describe()).toBe(0);
      const [, gotName, key, token] = /^(.*)\|(.*)\|(\d+)$/m.exec(first.output.stdout) ?? [];
      expect(gotName).toBe(name);
      expect(key).toContain(name);
      expect(BigInt(token ?? '0') > 0n).toBe(true);
      // Released: a second one gets the lock at once.
      const second = procs.baton(['lock', '--timeout', '0', name, '--', 'true'], env());
      expect(await second.exited, second.describe()).toBe(0);
    });

    it('passes SIGINT and SIGTERM on to the child and exits with its code', async () => {
      const name = uniqueName('signals');
      const script = "trap 'echo got-int; exit 9' INT; trap 'echo got-term; exit 10' TERM; echo started; while read x; do :; done";
      const a = procs.baton(['lock', name, '--', 'sh', '-c', script], env());
      await a.waitFor('stdout', /^started$/m);
      a.signal('SIGINT');
      expect(await a.exited, a.describe()).toBe(9);
      expect(a.output.stdout).toContain('got-int');
      const b = procs.baton(['lock', name, '--', 'sh', '-c', script], env());
      await b.waitFor('stdout', /^started$/m);
      b.signal('SIGTERM');
      expect(await b.exited, b.describe()).toBe(10);
    });

    it('times out with exit 75 without running the command, and a signal while waiting leaves the queue', async () => {
      const name = uniqueName('timeout');
      const holder = procs.baton(['lock', name, '--', 'sh', '-c', HOLDER], env({ N: '1', LOG: join(dir.path, `${kind}-timeout.log`) }));
      await holder.waitFor('stdout', /^started 1 /m);
      const late = procs.baton(['lock', '--timeout', '0.3', name, '--', 'sh', '-c', 'echo ran'], env());
      expect(await late.exited, late.describe()).toBe(75);
      expect(late.output.stdout).toBe('');
      expect(late.output.stderr).toMatch(new RegExp(`timed out after 0.3 s waiting for lock "${name}"; the command was not run`));
      const now = procs.baton(['lock', '--timeout', '0', name, '--', 'sh', '-c', 'echo ran'], env());
      expect(await now.exited).toBe(75);
      expect(now.output.stderr).toMatch(/is taken or has waiters and --timeout is 0; the command was not run/);
      expect(now.output.stdout).toBe('');

      const waiting = procs.baton(['lock', '-v', name, '--', 'sh', '-c', 'echo ran'], env());
      await waiting.waitFor('stderr', /queued for lock .* at position 0 /);
      waiting.signal('SIGTERM');
      expect(await waiting.exited, waiting.describe()).toBe(143);
      expect(waiting.output.stdout).toBe('');
      const status = procs.baton(['status', name, '--json'], env());
      expect(await status.exited, status.describe()).toBe(0);
      const report = JSON.parse(status.output.stdout) as { holders: unknown[]; waiters: unknown[] };
      expect(report.holders).toHaveLength(1);
      expect(report.waiters).toHaveLength(0);
      holder.send();
      expect(await holder.exited).toBe(0);
    });

    it('baton status shows the holder and its waiters in queue order, with tokens and keys', async () => {
      const name = uniqueName('status');
      const log = join(dir.path, `${kind}-status.log`);
      const holders = await queueHolders(name, log, 3);
      const json = procs.baton(['status', name, '--json'], env());
      expect(await json.exited, json.describe()).toBe(0);
      const report = JSON.parse(json.output.stdout) as {
        name: string;
        kind: string;
        holders: { key: string; token: string; ageMs: number | null }[];
        waiters: { position: number; key: string; token: string; ageMs: number | null }[];
      };
      const [, firstToken, firstKey] = /^started 1 (\d+) (\S+)$/m.exec(holders[0]!.output.stdout) ?? [];
      expect(report.name).toBe(name);
      expect(report.kind).toBe('lock');
      expect(report.holders.map((h) => [h.token, h.key])).toEqual([[firstToken, firstKey]]);
      expect(report.waiters.map((w) => w.position)).toEqual([0, 1]);
      expect(BigInt(report.waiters[0]!.token) < BigInt(report.waiters[1]!.token)).toBe(true);
      if (kind === 'zookeeper') {
        // ZooKeeper records creation times: the earlier waiter has waited longer.
        expect(report.waiters[0]!.ageMs).not.toBeNull();
        expect(report.waiters[0]!.ageMs! >= report.waiters[1]!.ageMs!).toBe(true);
      } else {
        expect(report.waiters[0]!.ageMs).toBeNull();
      }

      const text = procs.baton(['status', name], env());
      expect(await text.exited).toBe(0);
      const rows = text.output.stdout.split('\n');
      expect(rows[0]).toBe(`lock "${name}": 1 holding, 2 waiting`);
      expect(rows[2]).toMatch(new RegExp(`^\\s+holder\\s+${firstToken}\\s+\\S+\\s+${firstKey}$`));
      expect(rows[3]).toMatch(new RegExp(`^\\s+0\\s+${report.waiters[0]!.token}\\s`));
      expect(rows[4]).toMatch(new RegExp(`^\\s+1\\s+${report.waiters[1]!.token}\\s`));

      // The first waiter listed is the one that gets the lock next.
      holders[0]!.send();
      const next = await Promise.race([holders[1]!, holders[2]!].map((p) => p.waitFor('stdout', /^started (\d) (\d+) (\S+)$/m)));
      expect(next[1]).toBe('2');
      expect([next[2], next[3]]).toEqual([report.waiters[0]!.token, report.waiters[0]!.key]);
      holders[1]!.send();
      await holders[2]!.waitFor('stdout', /^started 3 /m);
      holders[2]!.send();
      for (const proc of holders) expect(await proc.exited).toBe(0);
    });

    it('baton status of a name nobody uses says so instead of guessing a kind', async () => {
      const name = uniqueName('unused');
      const text = procs.baton(['status', name], env());
      expect(await text.exited, text.describe()).toBe(0);
      expect(text.output.stdout).toBe(
        `nobody holds or waits for "${name}": no lock, election, read-write lock, semaphore or double barrier of that name has keys\n`,
      );
      const json = procs.baton(['status', name, '--json'], env());
      expect(await json.exited, json.describe()).toBe(0);
      expect(JSON.parse(json.output.stdout)).toEqual({ name, kind: null, holders: [], waiters: [] });
    });

    it("baton status shows a double barrier's members (queued apart, under .baton/NAME/.members) and whether all have arrived", async () => {
      const name = uniqueName('double');
      const coords = await Promise.all([1, 2, 3].map(() => connect(srv.url)));
      try {
        const barriers = coords.map((coord) => coord.doubleBarrier(name, { members: 3 }));
        const entered = [barriers[0]!.enter(), barriers[1]!.enter()];
        await until(async () => (await barriers[0]!.status()).members.length === 2, 'two members in the barrier');
        type Report = { name: string; kind: string; ready: boolean; members: { key: string; token: string; ageMs: number | null }[] };
        const read = async (args: string[]) => {
          const proc = procs.baton(['status', name, ...args], env());
          expect(await proc.exited, proc.describe()).toBe(0);
          return proc.output.stdout;
        };
        const waiting = JSON.parse(await read(['--json'])) as Report;
        expect(waiting).toMatchObject({ name, kind: 'double barrier', ready: false });
        expect(waiting.members).toHaveLength(2);
        expect(waiting.members.every((m) => m.key.includes(`.baton/${name}/.members/`))).toBe(true);
        expect(BigInt(waiting.members[0]!.token) < BigInt(waiting.members[1]!.token)).toBe(true);
        const text = (await read([])).split('\n');
        expect(text[0]).toBe(`double barrier "${name}": 2 members, waiting for the rest`);
        expect(text[1]).toMatch(/^\s+TOKEN\s+AGE\s+KEY$/);
        expect(text[2]).toMatch(new RegExp(`^\\s+${waiting.members[0]!.token}\\s+\\S+\\s+${waiting.members[0]!.key}$`));

        // The third arrives: everyone proceeds, and the barrier shows all arrived.
        entered.push(barriers[2]!.enter());
        await Promise.all(entered);
        const through = JSON.parse(await read(['--json'])) as Report;
        expect(through.ready).toBe(true);
        expect(through.members).toHaveLength(3);
        expect((await read([])).split('\n')[0]).toBe(`double barrier "${name}": 3 members, all arrived`);

        await Promise.all(barriers.map((barrier) => barrier.leave()));
        expect(JSON.parse(await read(['--json']))).toEqual({ name, kind: null, holders: [], waiters: [] });
      } finally {
        await Promise.all(coords.map((coord) => coord.close()));
      }
    });

    it('baton semaphore lets N run at once and the next in line when one ends', async () => {
      const name = uniqueName('sem');
      const log = join(dir.path, `${kind}-sem.log`);
      const run = (n: number) =>
        procs.baton(['semaphore', name, '--permits', '2', '-v', '--', 'sh', '-c', HOLDER], env({ N: String(n), LOG: log }), `semaphore #${n}`);
      const a = run(1);
      await a.waitFor('stdout', /^started 1 /m);
      const b = run(2);
      await b.waitFor('stdout', /^started 2 /m);
      const c = run(3);
      await c.waitFor('stderr', /queued for a permit of semaphore .* at position 0 /);
      const status = procs.baton(['status', name, '--permits', '2', '--json'], env());
      expect(await status.exited, status.describe()).toBe(0);
      const report = JSON.parse(status.output.stdout) as { kind: string; holders: unknown[]; waiters: unknown[] };
      expect(report.kind).toBe('semaphore');
      expect(report.holders).toHaveLength(2);
      expect(report.waiters).toHaveLength(1);
      expect(readLog(log).filter((line) => line.startsWith('start'))).toHaveLength(2);
      // Without --permits the layout still tells a semaphore, and the output says what it cannot know.
      const guessed = procs.baton(['status', name], env());
      expect(await guessed.exited, guessed.describe()).toBe(0);
      expect(guessed.output.stdout).toMatch(new RegExp(`^semaphore "${name}" \\(unknown permits\\): `));
      expect(guessed.output.stdout).toContain('permits not given: every lease is shown as a holder');
      b.send();
      expect(await b.exited).toBe(0);
      await c.waitFor('stdout', /^started 3 /m);
      a.send();
      c.send();
      expect([await a.exited, await c.exited]).toEqual([0, 0]);
    });

    it('baton elect runs its command only while leader; a second takes over when the first is killed', async () => {
      const name = uniqueName('elect');
      const leaderScript = 'echo "leading $BATON_VALUE $$"; read x';
      const observe = procs.baton(['observe', name, '--json'], env());
      await observe.waitFor('stdout', /"leader":null/);
      const first = procs.baton(['elect', '--ttl', '2', name, '--value', 'first', '--', 'sh', '-c', leaderScript], env());
      const [, , firstChildPid] = (await first.waitFor('stdout', /^leading (first) (\d+)$/m)) as unknown as string[];
      procs.adopt(Number(firstChildPid));
      const second = procs.baton(['elect', '--ttl', '2', '-v', name, '--value', 'second', '--', 'sh', '-c', leaderScript], env());
      await second.waitFor('stderr', /queued for leadership of election .* at position 0 /);
      const leader = procs.baton(['leader', name, '--json'], env());
      expect(await leader.exited).toBe(0);
      expect(JSON.parse(leader.output.stdout)).toMatchObject({ value: 'first' });
      expect(second.output.stdout).toBe('');

      first.signal('SIGKILL');
      // Its session ends when its TTL runs out; then the second leads and runs its command.
      await second.waitFor('stdout', /^leading second \d+$/m);
      await observe.waitFor('stdout', /"value":"second"/);
      const values = observe.output.stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { leader: { value: string } | null }).leader?.value ?? null);
      expect(values.filter((v) => v !== null)).toEqual(['first', 'second']);
      second.send();
      expect(await second.exited).toBe(0);
      observe.signal('SIGINT');
      expect(await observe.exited).toBe(0);
    });

    it('stops the child and exits 76 when the session expires while baton is paused', async () => {
      const name = uniqueName('expire');
      const term = join(dir.path, `${kind}-expire.term`);
      const script = `trap 'echo term >> "${term}"; exit 0' TERM; echo "started $BATON_KEY"; while :; do read x || exit 3; done`;
      const a = procs.baton(['lock', '--ttl', '2', '--grace', '20', name, '--', 'sh', '-c', script], env());
      await a.waitFor('stdout', /^started /m);
      const b = procs.baton(['lock', '-v', name, '--', 'sh', '-c', 'echo b-started; read x'], env());
      await b.waitFor('stderr', /at position 0 /);
      a.signal('SIGSTOP');
      // The paused baton cannot keep its session alive: the server ends it and the next in line holds.
      await b.waitFor('stdout', /^b-started$/m);
      a.signal('SIGCONT');
      expect(await a.exited, a.describe()).toBe(76);
      expect(a.output.stderr).toMatch(new RegExp(`lost lock "${name}" \\(token \\d+, key [^)]+\\) while sh was running: .*; stopping sh`));
      expect(readFileSync(term, 'utf8')).toBe('term\n');
      b.send();
      expect(await b.exited).toBe(0);
    });

    it.skipIf(!server?.kill)("exits with the command's code, and says so, when the backend is gone by the time it ends", async () => {
      const name = uniqueName('gone');
      const a = procs.baton(['lock', '--ttl', '30', name, '--', 'sh', '-c', 'echo started; read x; exit 5'], env());
      await a.waitFor('stdout', /^started$/m);
      await srv.kill?.();
      try {
        a.send();
        const ended = Date.now();
        expect(await a.exited, a.describe()).toBe(5);
        expect(a.output.stderr).toMatch(new RegExp(`could not release lock "${name}" \\(.*\\); it ends when its session expires`));
        expect(Date.now() - ended).toBeLessThan(15_000);
      } finally {
        await srv.restart();
      }
    });

    if (kind === 'etcd') {
      it('a revoked lease stops the child, and baton says what was lost (exit 76)', async () => {
        const name = uniqueName('revoke');
        const term = join(dir.path, 'revoke.term');
        const script = `trap 'echo term >> "${term}"; exit 0' TERM; echo "started $BATON_KEY"; while :; do read x || exit 3; done`;
        const a = procs.baton(['lock', name, '--', 'sh', '-c', script], env());
        const [, key] = (await a.waitFor('stdout', /^started (\S+)$/m)) as unknown as [string, string];
        const lease = key.slice(key.lastIndexOf('/') + 1);
        const revoke = procs.run(ETCDCTL_BINARY, [...srv.etcdctlArgs, 'lease', 'revoke', lease], { ...process.env, ETCDCTL_API: '3' });
        expect(await revoke.exited, revoke.describe()).toBe(0);
        expect(await a.exited, a.describe()).toBe(76);
        expect(a.output.stderr).toMatch(new RegExp(`lost lock "${name}" .* while sh was running`));
        expect(readFileSync(term, 'utf8')).toBe('term\n');
      });

      it('etcdctl elect sees the leader baton elect made, and baton leader sees etcdctl\'s', async () => {
        const name = uniqueName('etcdctl-elect');
        const etcdctlEnv = { ...process.env, ETCDCTL_API: '3' };
        const leader = procs.baton(['elect', name, '--value', 'from-baton', '--', 'sh', '-c', 'echo leading; read x'], env());
        await leader.waitFor('stdout', /^leading$/m);
        const listen = procs.run(ETCDCTL_BINARY, [...srv.etcdctlArgs, 'elect', '-l', name], etcdctlEnv);
        await listen.waitFor('stdout', /^from-baton$/m);
        leader.send();
        expect(await leader.exited).toBe(0);

        const other = procs.run(ETCDCTL_BINARY, [...srv.etcdctlArgs, 'elect', name, 'from-etcdctl'], etcdctlEnv);
        await other.waitFor('stdout', /^from-etcdctl$/m);
        const seen = procs.baton(['leader', name, '--json'], env());
        expect(await seen.exited).toBe(0);
        expect(JSON.parse(seen.output.stdout)).toMatchObject({ value: 'from-etcdctl', key: expect.stringMatching(new RegExp(`^${name}/[0-9a-f]+$`)) });
      });

      it('baton lock and etcdctl lock exclude each other, in the order they queued', async () => {
        const name = uniqueName('etcdctl');
        const log = join(dir.path, 'etcdctl.log');
        const etcdctlEnv = { ...process.env, ETCDCTL_API: '3', LOG: log };
        const events: string[] = [];

        // baton first, etcdctl queued behind it.
        const a = procs.baton(['lock', name, '--', 'sh', '-c', HOLDER], env({ N: '1', LOG: log }));
        await a.waitFor('stdout', /^started 1 /m);
        const b = procs.run(ETCDCTL_BINARY, [...srv.etcdctlArgs, 'lock', name, '--', 'sh', '-c', 'echo "etcdctl-start" >> "$LOG"; echo etcdctl-ran'], etcdctlEnv);
        // etcdctl reports nothing while it waits: the queue itself shows it.
        await waitForQueue(procs, env(), name, 1);
        a.send();
        expect(await a.exited).toBe(0);
        expect(await b.exited, b.describe()).toBe(0);
        expect(readLog(log)).toEqual([expect.stringMatching(/^start 1 /), 'end 1', 'etcdctl-start']);

        // etcdctl first (it holds until stopped), baton queued behind it.
        const c = procs.run(ETCDCTL_BINARY, [...srv.etcdctlArgs, 'lock', name], etcdctlEnv);
        await c.waitFor('stdout', new RegExp(`^${name}/`, 'm'));
        events.push('etcdctl holds');
        const d = procs.baton(['lock', '-v', name, '--', 'sh', '-c', 'echo baton-ran'], env());
        await d.waitFor('stderr', /queued for lock .* at position 0 /);
        events.push('baton queued');
        // While etcdctl holds, baton's command has not run.
        expect(d.output.stdout).toBe('');
        c.signal('SIGINT');
        await c.exited;
        events.push('etcdctl stopped');
        await d.waitFor('stdout', /^baton-ran$/m);
        events.push('baton ran');
        expect(await d.exited, d.describe()).toBe(0);
        expect(events).toEqual(['etcdctl holds', 'baton queued', 'etcdctl stopped', 'baton ran']);
      });
    }
  });
}

/** Waits until `baton status` shows `waiters` waiters: the only sign an etcdctl waiter gives. */
async function waitForQueue(procs: Procs, env: NodeJS.ProcessEnv, name: string, waiters: number): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const status = procs.baton(['status', name, '--json'], env);
    if ((await status.exited) !== 0) throw new Error(status.describe());
    if ((JSON.parse(status.output.stdout) as { waiters: unknown[] }).waiters.length >= waiters) return;
  }
  throw new Error(`${name} never showed ${waiters} waiters`);
}

/**
 * `baton observe` while its server is frozen (SIGSTOP): a watch cannot tell "no change" from "no
 * contact", so after `contactTimeoutMs` (10 s) without an answer it prints a `contact lost` line,
 * and once the server is thawed it prints the leader again and carries on. The leader is a
 * library campaigner whose session outlives the freeze, so the leader is the same before and after.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { ensureBuilt, Procs } from './cli-harness.js';
import { startEtcd } from '../support/etcd-server.js';
import { startZooKeeper } from '../support/zookeeper-server.js';

ensureBuilt();
const etcd = await startEtcd({ needControl: true });
const zk = await startZooKeeper(1);
const procs = new Procs();
afterEach(async () => {
  await procs.cleanup();
});
afterAll(async () => {
  await Promise.all([etcd?.stop(), zk?.stop()]);
});

/** The CLI's contact timeout: `election.observe()`'s default. */
const CONTACT_TIMEOUT_MS = 10_000;

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not come within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Observes an election led by `node-a` through `url`, freezes the server with `freeze` for longer
 * than the contact timeout, thaws it, and checks what `baton observe --json` printed.
 */
async function observeThroughFreeze(url: string, holderUrl: string, freeze: () => void, thaw: () => void): Promise<void> {
  const name = `observe-contact/${process.pid}`;
  const holder = await connect(holderUrl);
  try {
    const leadership = await holder.election(name).campaign('node-a');
    const observe = procs.baton(['observe', name, '--json'], { ...process.env, BATON_BACKEND: url });
    await observe.waitFor('stdout', /"leader":\{"value":"node-a"/);
    const frozenAt = Date.now();
    freeze();
    let lostAfterMs: number;
    try {
      await within(observe.waitFor('stdout', /"contact":"lost"/), CONTACT_TIMEOUT_MS * 2 + 5000, `a "contact lost" line (stdout so far: ${observe.output.stdout})`);
      lostAfterMs = Date.now() - frozenAt;
    } finally {
      thaw();
    }
    // Counted from the last answer, which came at most half the timeout before the freeze (the
    // observer reads every half of it); and well within twice it.
    expect(lostAfterMs).toBeGreaterThanOrEqual(CONTACT_TIMEOUT_MS / 2 - 500);
    expect(lostAfterMs).toBeLessThan(CONTACT_TIMEOUT_MS * 2 + 5000);
    // After the thaw: the leader again, on a line after the contact-lost one.
    await within(
      observe.waitFor('stdout', /"contact":"lost"[^\n]*\n(?:[^\n]*\n)*?[^\n]*"leader":\{"value":"node-a"/),
      CONTACT_TIMEOUT_MS * 2,
      'the leader after the thaw',
    );
    const lines = observe.output.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { leader?: { value: string } | null; contact?: string; error?: string });
    const lost = lines.find((line) => line.contact === 'lost');
    expect(lost?.error).toMatch(/\d/);
    expect(lines[0]?.leader?.value).toBe('node-a');
    expect(lines.at(-1)?.leader?.value).toBe('node-a');
    // The observer never claimed another leader, nor none, while it could not see.
    expect(lines.filter((line) => 'leader' in line).every((line) => line.leader?.value === 'node-a')).toBe(true);
    observe.signal('SIGINT');
    expect(await observe.exited, observe.describe()).toBe(0);
    await leadership.resign();
  } finally {
    await holder.close();
  }
}

describe.skipIf(!etcd)('baton observe on etcd', () => {
  it('prints "contact lost" while the server is frozen and the leader again after the thaw', async () => {
    const server = etcd!;
    // The leader's lease (60 s) outlives the freeze.
    await observeThroughFreeze(server.url(), server.url({ ttl: 60 }), () => server.pauseMember(0), () => server.resumeMember(0));
  }, 90_000);
});

describe.skipIf(!zk)('baton observe on ZooKeeper', () => {
  it('prints "contact lost" while the server is frozen and the leader again after the thaw', async () => {
    const server = zk!;
    // The leader's session (60 s) outlives the freeze.
    await observeThroughFreeze(server.url(), server.url({ sessionTimeout: 60_000 }), () => server.pauseServer(0), () => server.resumeServer(0));
  }, 90_000);
});

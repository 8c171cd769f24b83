/**
 * Nemeses: the faults a scenario injects, each bounded in time. A nemesis repeats its fault until
 * `ctx.faultsUntil`, undoes every fault it made before it returns, and logs `healed` once the
 * cluster serves again, so that the checker knows from when every client must make progress.
 * Faults are real: SIGKILL/SIGSTOP of test-owned processes, and TCP proxies that go silent.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster } from './clusters.js';
import type { ClientEvent } from './history.js';

export interface ClientHandle {
  readonly id: number;
  readonly paused: boolean;
  pause(): void;
  resume(): void;
  /** Silences (or restores) every link between this client and the servers; false without proxies. */
  partition(silent: boolean): boolean;
}

export interface NemesisContext {
  cluster: Cluster;
  clients: readonly ClientHandle[];
  ttlMs: number;
  timeoutMs: number;
  /** Date.now() after which no new fault starts. */
  faultsUntil: number;
  log(ev: string, fields?: Record<string, unknown>): void;
  /** The next client line matching `match`, or undefined after `timeoutMs`. */
  nextEvent(match: (event: ClientEvent) => boolean, timeoutMs: number): Promise<ClientEvent | undefined>;
}

export type Nemesis = (ctx: NemesisContext) => Promise<void>;

const faultsLeft = (ctx: NemesisContext) => Date.now() < ctx.faultsUntil;

async function healed(ctx: NemesisContext): Promise<void> {
  await ctx.cluster.waitHealthy();
  ctx.log('healed');
}

/** No injected fault: the recipe's own churn is the test. */
export const none: Nemesis = async (ctx) => {
  await sleep(Math.max(0, ctx.faultsUntil - Date.now()));
  ctx.log('healed');
};

/** kill -9 the cluster's leader, restart it a little later, again and again. */
export const leaderKill: Nemesis = async (ctx) => {
  while (faultsLeft(ctx)) {
    const member = await ctx.cluster.leader();
    ctx.log('kill-member', { member, leader: true });
    await ctx.cluster.kill(member);
    await sleep(1500);
    ctx.log('start-member', { member });
    await ctx.cluster.start(member);
    await healed(ctx);
    await sleep(1500);
  }
};

/** SIGSTOP the leader (it neither answers nor closes a connection), then SIGCONT. */
export const leaderPause: Nemesis = async (ctx) => {
  while (faultsLeft(ctx)) {
    const member = await ctx.cluster.leader();
    ctx.log('pause-member', { member, leader: true });
    ctx.cluster.pause(member);
    await sleep(Math.max(2500, ctx.ttlMs));
    ctx.cluster.resume(member);
    ctx.log('resume-member', { member });
    await healed(ctx);
    await sleep(1500);
  }
};

/** SIGSTOP one follower (a minority member) for a while, then SIGCONT. */
export const followerPause: Nemesis = async (ctx) => {
  while (faultsLeft(ctx)) {
    const leader = await ctx.cluster.leader();
    const member = [...Array(ctx.cluster.size).keys()].find((i) => i !== leader)!;
    ctx.log('pause-member', { member, leader: false });
    ctx.cluster.pause(member);
    await sleep(Math.max(3000, 1.5 * ctx.ttlMs));
    ctx.cluster.resume(member);
    ctx.log('resume-member', { member });
    await healed(ctx);
    await sleep(1000);
  }
};

/**
 * SIGSTOP a client for longer than its TTL at a chosen moment: right after it logged `trigger`
 * (`read`: between its read and its write of the resource; `acquired`: just after a grant).
 */
export function clientPause(trigger: 'read' | 'acquired'): Nemesis {
  return async (ctx) => {
    while (faultsLeft(ctx)) {
      const event = await ctx.nextEvent((e) => e.ev === trigger, ctx.timeoutMs * 2);
      if (!event) {
        ctx.log('no-target', { waitedFor: trigger });
        continue;
      }
      const client = ctx.clients[event.c]!;
      client.pause();
      ctx.log('pause-client', { c: client.id, after: trigger });
      await sleep(ctx.ttlMs + 1500);
      // Logged before the SIGCONT: the client's first line after it must come after this one.
      ctx.log('resume-client', { c: client.id });
      client.resume();
      ctx.log('healed');
      await sleep(1000);
    }
  };
}

/** Every member killed at once, all restarted after longer than the session TTL. */
export const outage: Nemesis = async (ctx) => {
  while (faultsLeft(ctx)) {
    await sleep(1000);
    const members = [...Array(ctx.cluster.size).keys()];
    ctx.log('outage');
    for (const member of members) ctx.log('kill-member', { member });
    await Promise.all(members.map((m) => ctx.cluster.kill(m)));
    await sleep(ctx.ttlMs + 1500);
    ctx.log('restart');
    await Promise.all(members.map((m) => ctx.cluster.start(m)));
    await healed(ctx);
    await sleep(2000);
  }
};

/**
 * Client 0 cut off from every server while it holds (its links go silent: no answer, no close),
 * for longer than its TTL; its connections are reset when the partition heals.
 */
export const clientPartition: Nemesis = async (ctx) => {
  const victim = ctx.clients[0]!;
  while (faultsLeft(ctx)) {
    const event = await ctx.nextEvent((e) => e.c === victim.id && e.ev === 'acquired', ctx.timeoutMs * 3);
    if (!event) {
      ctx.log('no-target', { waitedFor: 'client 0 acquired' });
      continue;
    }
    if (!victim.partition(true)) throw new Error('client-partition needs clients behind proxies');
    ctx.log('partition-client', { c: victim.id });
    await sleep(ctx.ttlMs + 2000);
    victim.partition(false);
    ctx.log('heal-client', { c: victim.id });
    await healed(ctx);
    await sleep(1000);
  }
};

/**
 * ZooKeeper: server 1 cut off from its leader (its quorum links go silent) while client 0, which
 * talks only to server 1, holds. The leader expires client 0's session and grants the lock to
 * another client; client 0 must have signalled its loss before that.
 */
export const followerIsolation: Nemesis = async (ctx) => {
  const { cluster } = ctx;
  if (!cluster.isolateFirst) throw new Error('follower-isolation needs a cluster whose first member can be isolated');
  const victim = ctx.clients[0]!;
  while (faultsLeft(ctx)) {
    if ((await cluster.leader()) === 0) {
      // Server 1 must be a follower: restart it so that another server leads.
      ctx.log('kill-member', { member: 0, leader: true, why: 'server 1 must be a follower' });
      await cluster.kill(0);
      await cluster.start(0);
      await healed(ctx);
    }
    const event = await ctx.nextEvent((e) => e.c === victim.id && e.ev === 'acquired', ctx.timeoutMs * 3);
    if (!event) {
      ctx.log('no-target', { waitedFor: 'client 0 acquired' });
      continue;
    }
    cluster.isolateFirst(true);
    ctx.log('isolate-follower', { c: victim.id, member: 0 });
    await sleep(2 * ctx.ttlMs + 2000);
    cluster.isolateFirst(false);
    ctx.log('heal-follower', { member: 0 });
    await healed(ctx);
    await sleep(1000);
  }
};

/**
 * The scenarios: a recipe, a nemesis, and what the clients do. Each runs on every backend it
 * names, for a bounded time, and ends with a quiet tail in which every client must acquire again.
 */
import { type BackendName, REPLICATED } from './clusters.js';
import type { Recipe } from './history.js';
import * as nemeses from './nemeses.js';

export interface Scenario {
  name: string;
  /** What it shows, for the report and docs/reliability.md. */
  shows: string;
  recipe: Recipe;
  nemesis: nemeses.Nemesis;
  backends?: readonly BackendName[];
  permits?: number;
  /** rwlock: the share of writers. */
  writeRatio?: number;
  /** false: the resource accepts any token (the negative control). */
  fenced?: boolean;
  /** The clients increment a counter kept in the backend through lease.guardedWrite. */
  guarded?: boolean;
  /** A negative control: passes only if the checker reports a violation. */
  expectViolation?: boolean;
  /** Clients reach the servers through TCP proxies that a nemesis can silence. */
  proxied?: boolean;
  /** The endpoints client `id` may use (indexes of members); all of them by default. */
  endpointsOf?: (id: number) => number[];
  /** Client 0 keeps each hold this long (a nemesis aims at its hold). */
  victimHoldMs?: (ttlMs: number) => number;
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'leader-kill',
    shows: 'the leader member is killed (SIGKILL) and restarted, again and again: holds and queues survive a failover, or are lost and signalled',
    recipe: 'mutex',
    nemesis: nemeses.leaderKill,
  },
  {
    name: 'leader-pause',
    shows: 'the leader member is frozen (SIGSTOP) longer than an election: clients move to the new leader within their timeouts',
    recipe: 'mutex',
    nemesis: nemeses.leaderPause,
  },
  {
    name: 'follower-pause',
    shows: 'one follower (a minority member) is frozen: requests that landed on it must not wedge the lock',
    recipe: 'mutex',
    nemesis: nemeses.followerPause,
    backends: REPLICATED,
  },
  {
    name: 'client-pause',
    shows: 'a holder is frozen between its read and its write for longer than its TTL: the lock passes on, the fenced resource refuses the stale write',
    recipe: 'mutex',
    nemesis: nemeses.clientPause('read'),
  },
  {
    name: 'client-pause-unfenced',
    shows: 'negative control: the same pause against a resource that does not check tokens must be reported as a violation',
    recipe: 'mutex',
    nemesis: nemeses.clientPause('read'),
    fenced: false,
    expectViolation: true,
  },
  {
    name: 'outage',
    shows: 'every member is killed and restarted after longer than the TTL: holds are lost and signalled, every client acquires again',
    recipe: 'mutex',
    nemesis: nemeses.outage,
  },
  {
    name: 'client-partition',
    shows: 'a holder is cut off from every server (its links go silent) longer than its TTL: it signals its loss before anyone else is granted',
    recipe: 'mutex',
    nemesis: nemeses.clientPartition,
    proxied: true,
    victimHoldMs: (ttlMs) => 3 * ttlMs,
  },
  {
    name: 'follower-isolation',
    shows: 'ZooKeeper: the follower a holder talks to is cut off from its leader: the holder signals its loss before the leader hands the lock on',
    recipe: 'mutex',
    nemesis: nemeses.followerIsolation,
    backends: ['zookeeper'],
    endpointsOf: (id) => (id === 0 ? [0] : [1, 2]),
    victimHoldMs: (ttlMs) => 3 * ttlMs,
  },
  {
    name: 'election-churn',
    shows: '5 candidates campaign, lead briefly and resign, over and over: one leader at a time, tokens increase',
    recipe: 'election',
    nemesis: nemeses.none,
  },
  {
    name: 'semaphore-pause',
    shows: 'a semaphore of 2 permits whose holders are frozen past their TTL: never more than 2 holders outside pauses',
    recipe: 'semaphore',
    permits: 2,
    nemesis: nemeses.clientPause('acquired'),
  },
  {
    name: 'rwlock-pause',
    shows: 'a read-write lock (a third writers) whose writers are frozen between read and write: writers exclude everyone, fencing holds',
    recipe: 'rwlock',
    writeRatio: 0.34,
    nemesis: nemeses.clientPause('read'),
  },
  {
    name: 'guarded-counter',
    shows: 'the counter kept in the backend, written through lease.guardedWrite by holders frozen past their TTL: a stale write never commits',
    recipe: 'mutex',
    guarded: true,
    nemesis: nemeses.clientPause('acquired'),
  },
];

/**
 * A run's history as saved on disk, so that a failing run can be checked again later:
 *   meta.json       the scenario and its parameters
 *   client-N.jsonl  each client's own log (written by client.mjs)
 *   nemesis.jsonl   what the runner did and when (pauses, kills, partitions, heal)
 *   resource.jsonl  every request the protected resource answered
 *   final.json      the end state: resource counter, keys left in the backend, client exits
 * Every `t` is process.hrtime.bigint() in nanoseconds (CLOCK_MONOTONIC), as a decimal string.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredKey } from './clusters.js';
import type { ResourceEntry } from './resource.js';

export type Recipe = 'mutex' | 'semaphore' | 'rwlock' | 'election';

export interface Meta {
  scenario: string;
  backend: string;
  recipe: Recipe;
  permits: number;
  /** Whether the resource refuses lower tokens (false only for the negative control). */
  fenced: boolean;
  /** Whether the clients increment a counter kept in the backend through guardedWrite. */
  guarded: boolean;
  clients: number;
  ttlMs: number;
  timeoutMs: number;
  /** The run is a negative control: it passes only if the checker finds a violation. */
  expectViolation: boolean;
  /** hrtime at the start of the run: times in reports are milliseconds after it. */
  t0: string;
  machine: string;
}

/** A line of a client's log (see client.mjs for the events). */
export interface ClientEvent {
  t: string;
  c: number;
  ev: string;
  [field: string]: unknown;
}

/** A line of the runner's nemesis log. */
export interface NemesisEvent {
  t: string;
  ev: string;
  c?: number;
  member?: number;
  [field: string]: unknown;
}

export interface ClientExit {
  c: number;
  code: number | null;
  signal: string | null;
  /** The runner had to kill it: it did not stop within the grace period. */
  killed: boolean;
  t: string;
}

export interface Final {
  counter: number;
  acceptedWrites: number;
  /** Contender keys found under the recipe's prefix once every session had ended or expired. */
  leftover: StoredKey[];
  /** The guarded counter's entries (one key per committed increment, value = token). */
  counterKeys: StoredKey[];
  clientExits: ClientExit[];
  /** End of the run (hrtime). */
  t: string;
}

export interface History {
  meta: Meta;
  clients: ClientEvent[][];
  nemesis: NemesisEvent[];
  resource: ResourceEntry[];
  final: Final;
}

function jsonLines<T>(path: string): T[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

/** Reads a history directory written by the runner. */
export function loadHistory(dir: string): History {
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Meta;
  const clientFiles = readdirSync(dir)
    .filter((name) => /^client-\d+\.jsonl$/.test(name))
    .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
  return {
    meta,
    clients: clientFiles.map((name) => jsonLines<ClientEvent>(join(dir, name))),
    nemesis: jsonLines<NemesisEvent>(join(dir, 'nemesis.jsonl')),
    resource: jsonLines<ResourceEntry>(join(dir, 'resource.jsonl')),
    final: JSON.parse(readFileSync(join(dir, 'final.json'), 'utf8')) as Final,
  };
}

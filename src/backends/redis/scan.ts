/**
 * The dashboard's scan on Redis: every contender entry in every queue at any depth below a prefix,
 * with its session's remaining time (the session key's PTTL).
 *
 * The queues are found in the high-water hash, which names every queue ever used, walked with
 * HSCAN a page at a time: never KEYS, and never a walk of the rest of the database. Each page is
 * one script that also sweeps expired sessions' entries, as every queue read does.
 *
 * Changes are followed through one pattern subscription on the queues' channels, confirmed before
 * the first page is read, so a change after the read is never missed, in queues created later
 * too. An expiring session publishes nothing, so the scan also reports a change when the first of
 * its sessions would expire, and after a reconnect (pub/sub loses what it could not deliver).
 * @module
 */
import { abortable } from '../abortable.js';
import type { ScannedKey, ScanResult, Watched } from '../contract.js';
import { globEscape, type KeySpace, roleOfName, sessionOfName } from './keys.js';
import type { Notifier } from './notifications.js';
import type { Script } from './scripts.js';

/** Queues read per script call: bounds how long one call holds the server. */
const PAGE_SIZE = 100;
/** Extra time after a session's expiry before reporting it: the server's clock may run a little late. */
const EXPIRY_MARGIN_MS = 5;

export interface ScanHost {
  readonly keys: KeySpace;
  readonly notifier: Notifier;
  /** The page script: sweeping expired entries, or (read only) leaving them out. */
  readonly scanTree: Script;
  /** Runs a reading script (an epoch change is dealt with, and the read retried). */
  read(script: Script, keys: readonly string[], args: readonly string[], signal: AbortSignal): Promise<unknown>;
}

export async function scanRedis(host: ScanHost, prefix: string, signal: AbortSignal): Promise<Watched<ScanResult>> {
  let fired = false;
  let fire = () => {
    fired = true;
  };
  const stopListening = await host.notifier.listenTree(prefix, () => fire(), signal);
  let queues: Map<string, ScannedKey[]>;
  const sessions = new Map<string, number>();
  try {
    queues = await readPages(host, prefix, sessions, signal);
  } catch (error) {
    stopListening();
    throw error;
  }
  const earliest = sessions.size > 0 ? Math.min(...sessions.values()) : -1;
  const changed = abortable<void>(signal, (resolve) => {
    fire = () => resolve();
    if (fired) resolve();
    const timer = earliest >= 0 ? setTimeout(resolve, earliest + EXPIRY_MARGIN_MS) : undefined;
    const stopResync = host.notifier.onResync(() => resolve());
    return () => {
      clearTimeout(timer);
      stopResync();
      stopListening();
    };
  });
  return { current: { keys: [...queues.values()].flat(), sessions }, changed };
}

/** Reads every page; a queue HSCAN returns twice keeps its later reading. */
async function readPages(host: ScanHost, prefix: string, sessions: Map<string, number>, signal: AbortSignal): Promise<Map<string, ScannedKey[]>> {
  const { keys } = host;
  const pattern = prefix === '' ? '*' : `${globEscape(prefix)}/*`;
  const queues = new Map<string, ScannedKey[]>();
  let cursor = '0';
  do {
    const reply = (await host.read(host.scanTree, [keys.highWater, keys.epoch], [prefix, cursor, String(PAGE_SIZE), pattern], signal)) as string[];
    cursor = reply[0] as string;
    for (let i = 1; i < reply.length; ) {
      if (reply[i] === 'q') {
        const queue = reply[i + 1] as string;
        const count = Number(reply[i + 2]);
        const entries: ScannedKey[] = [];
        for (let at = i + 3; at < i + 3 + 3 * count; at += 3) {
          const name = reply[at] as string;
          entries.push({ key: `${queue}/${name}`, parent: queue, role: roleOfName(name), revision: BigInt(reply[at + 1] as string), value: reply[at + 2] as string, session: sessionOfName(name) });
        }
        queues.set(queue, entries);
        i += 3 + 3 * count;
      } else {
        const ttl = Number(reply[i + 2]);
        if (ttl >= 0) sessions.set(reply[i + 1] as string, ttl);
        i += 3;
      }
    }
  } while (cursor !== '0');
  return queues;
}

/**
 * How Baton's names map onto Redis keys. Every key starts with the hash tag `{<prefix>}`, so all
 * of one prefix's keys live in one hash slot and every script may touch any of them, on a single
 * server and on Redis Cluster alike.
 *
 * | Redis key                 | type   | holds                                                        |
 * |---------------------------|--------|--------------------------------------------------------------|
 * | `{P}rev`                  | string | the revision counter (INCR): every key's creation revision   |
 * | `{P}hw`                   | hash   | queue prefix -> highest revision handed out in it            |
 * | `{P}epoch`                | string | a random id written once: a new one means the data was lost  |
 * | `{P}s:<session>`          | hash   | a live session (PX TTL); fields: queue prefix -> its keys    |
 * | `{P}q:<queue prefix>`     | zset   | contender names scored by creation revision                  |
 * | `{P}v:<queue prefix>`     | hash   | contender name -> value                                      |
 * | `{P}d:<key>`              | hash   | a plain key written by a guarded write: `v` value, `r` rev   |
 * | `{P}c:<queue prefix>`     | channel| `c`/`d`/`u <name> <rev>` on every creation/deletion/update   |
 *
 * A contender's name is `<session>-<role>-<n>` (n counts per session), and its key as the recipes
 * see it is `<queue prefix>/<name>`, so a listing tells role and owner from the name alone.
 * @module
 */
import type { Role } from '../contract.js';
import { lastSegment, parentOf } from '../key-paths.js';

const NAME = /^([0-9a-f]+)-(lock|latch|lease|read|write)-(\d+)$/;

export class KeySpace {
  /** `{<prefix>}`: the hash tag every key starts with. */
  readonly tag: string;

  constructor(prefix: string) {
    this.tag = `{${prefix}}`;
  }

  get counter(): string {
    return `${this.tag}rev`;
  }
  get highWater(): string {
    return `${this.tag}hw`;
  }
  get epoch(): string {
    return `${this.tag}epoch`;
  }
  session(id: string): string {
    return `${this.tag}s:${id}`;
  }
  queue(prefix: string): string {
    return `${this.tag}q:${prefix}`;
  }
  values(prefix: string): string {
    return `${this.tag}v:${prefix}`;
  }
  data(key: string): string {
    return `${this.tag}d:${key}`;
  }
  channel(prefix: string): string {
    return `${this.tag}c:${prefix}`;
  }
  /** The queue prefix a notification channel belongs to, or undefined for another channel. */
  prefixOfChannel(channel: string): string | undefined {
    const start = `${this.tag}c:`;
    return channel.startsWith(start) ? channel.slice(start.length) : undefined;
  }
}

/** A contender's name within its queue. */
export function contenderName(session: string, role: Role, n: number): string {
  return `${session}-${role}-${n}`;
}

/** A key as the recipes see it, split into its queue prefix and contender name. */
export function splitKey(key: string): { prefix: string; name: string } {
  return { prefix: parentOf(key), name: lastSegment(key) };
}

/** The role encoded in a contender's name ('lock', the exclusive role, when it cannot be told). */
export function roleOfName(name: string): Role {
  return (NAME.exec(name)?.[2] as Role | undefined) ?? 'lock';
}

/** The session id a contender name starts with, or undefined for a name of no known layout. */
export function sessionOfName(name: string): string | undefined {
  return NAME.exec(name)?.[1];
}

/** `text` with Redis glob characters escaped, to match itself literally in a pattern (PSUBSCRIBE, MATCH). */
export function globEscape(text: string): string {
  return text.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

/** Whether `name` is a contender name of `session`. */
export function ownedBy(name: string, session: string): boolean {
  return NAME.exec(name)?.[1] === session;
}

/**
 * The Redis adapter: the backend contract over two ioredis connections (commands and scripts on
 * one, notifications on the other) and one session key at a time.
 *
 * Waits never poll as their main mechanism. A wait subscribes to the queue's channel, then reads
 * the key; it ends on the deletion notification, or when a re-read finds the key gone. Re-reads
 * happen at the waited-for key's session expiry (its entry is then dropped by the read itself, and
 * the drop is published to everyone else) and after any reconnect (pub/sub loses what it could
 * not deliver).
 *
 * A read-only coordinator (`readOnly`) writes nothing: it neither reads nor sets the epoch,
 * opens no session, and reads with scripts that leave expired sessions' entries out instead of
 * deleting them; only those scripts run (anything else is refused with a ConfigError).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { ClosedError, ConfigError, SessionLostError } from '../../errors.js';
import { HealthBoard } from '../../observability/health.js';
import { abortable, raceSignal } from '../abortable.js';
import type { Backend, KeyState, PlainKeys, QueueEntry, ScanResult, Session, Watched } from '../contract.js';
import type { RedisOptions } from './config.js';
import { AttemptError, connectClient, EpochChangedError, Link } from './connection.js';
import { KeySpace, splitKey } from './keys.js';
import { Notifier } from './notifications.js';
import { scanRedis } from './scan.js';
import { PROBE, READ_ONLY_READS, type Reads, type Script, WRITING_READS } from './scripts.js';
import { entriesOf, RedisSession, type SessionHost } from './session.js';
import { RedisValues } from './values.js';

/** A moment's pause between attempts, so a failing link is not hammered. */
const RETRY_PAUSE_MS = 20;
/** Extra time after a session's expiry before looking: the server's clock may run a little late. */
const EXPIRY_MARGIN_MS = 5;

export class RedisBackend implements Backend {
  readonly kind = 'redis' as const;
  readonly options: RedisOptions;
  readonly keys: KeySpace;
  readonly link: Link;
  readonly notifier: Notifier;
  /** Connected, out of contact, lost (`coord.health()`): reported by the session's renewals and the command link. */
  readonly health = new HealthBoard('redis');
  /** The epoch the client believes the server's data is in (see scripts.ts). */
  epoch = '';
  #highest = 0n;
  #current: RedisSession | undefined;
  #opening: Promise<RedisSession> | undefined;
  #closed = false;
  readonly #host: SessionHost;
  /** Plain keys (versioned values, barriers): the same data hashes guarded writes use. */
  readonly values: PlainKeys = new RedisValues(this);
  /** The scripts reads run: sweeping, or (read only) leaving expired entries out. */
  readonly #reads: Reads;

  private constructor(options: RedisOptions) {
    this.options = options;
    this.#reads = options.readOnly ? READ_ONLY_READS : WRITING_READS;
    this.keys = new KeySpace(options.prefix);
    this.link = new Link(options, 'commands');
    this.notifier = new Notifier(new Link(options, 'notifications'), this.keys);
    const backend = this;
    this.#host = {
      keys: this.keys,
      ttlMs: options.ttl * 1000,
      where: this.link.where,
      health: this.health,
      run: (script, keys, args, signal, idempotent) => this.run(script, keys, args, signal, idempotent),
      get floor() {
        return backend.#highest;
      },
      seen: (revision, behind) => this.#seen(revision, behind),
      vanished: (prefix, name, revision) => this.notifier.inject(prefix, { kind: 'd', name, revision }),
      listen: (prefix, listener, signal) => this.notifier.listen(prefix, listener, signal),
      onResync: (listener) => this.notifier.onResync(listener),
      exists: async (prefix, name, revision) => {
        const k = this.keys;
        const [found] = (await this.#read(PROBE, [k.queue(prefix), k.values(prefix), k.epoch], [k.channel(prefix), name], this.#bound())) as [string];
        return found !== '' && BigInt(found) === revision;
      },
      dataLost: (error) => this.#dataLost(error),
    };
    // An own entry deleted by someone else: maybe the whole session expired. Ask now, not at the next renewal.
    this.notifier.tap = (prefix, change) => {
      const session = this.#current;
      if (change.kind === 'd' && session && !session.signal.aborted && session.owns(`${prefix}/${change.name}`)) void session.probe();
    };
    // A reconnect of the command connection also calls for a re-read: reads may have failed meanwhile,
    // and for a renewal at once, which reports contact (or finds the session gone) without waiting for the next.
    let everReady = false;
    this.link.client.on('ready', () => {
      if (everReady) {
        this.notifier.resync();
        if (!this.#closed) void this.#current?.probe();
      }
      everReady = true;
    });
    // A broken command link is out of contact now, not only when the next renewal fails.
    this.link.client.on('close', () => {
      if (!this.#closed) this.#current?.outOfContact();
    });
  }

  /**
   * Connects both connections (so a wrong password or an unreachable server fails here, with a
   * clear error), learns the data's epoch and opens the first session. Read only: connects, and
   * nothing more.
   */
  static async connect(options: RedisOptions, signal?: AbortSignal): Promise<RedisBackend> {
    const backend = new RedisBackend(options);
    const bound = AbortSignal.any([AbortSignal.timeout(options.connectTimeoutMs), ...(signal ? [signal] : [])]);
    try {
      // One after the other: a refused handshake on the first must not leave the second half-open.
      await raceSignal(connectClient(backend.link.client, options), signal);
      await raceSignal(connectClient(backend.notifier.client, options), signal);
      // The epoch guards sessions and tokens, of which a read-only coordinator has none.
      if (options.readOnly) return backend;
      await raceSignal(backend.#adoptEpoch(bound), bound);
      await backend.session(bound);
    } catch (error) {
      await backend.close();
      throw error;
    }
    return backend;
  }

  /** The current session's id, if one is open (for tests and tools). */
  get sessionId(): string | undefined {
    return this.#current && !this.#current.signal.aborted ? this.#current.id : undefined;
  }

  /** The highest revision this client has seen. */
  get highestRevision(): bigint {
    return this.#highest;
  }

  /**
   * Runs a script with the tag and epoch put first. Attempts that never left the client are
   * retried once the connection is back; attempts of unknown outcome too when `idempotent`.
   */
  async run(script: Script, keys: readonly string[], args: readonly string[], signal: AbortSignal, idempotent: boolean): Promise<unknown> {
    if (this.options.readOnly && !isReadOnly(script)) throw readOnlyError();
    for (;;) {
      this.#checkOpen();
      await this.link.whenReady(signal);
      try {
        return await this.link.run(script, keys, [this.keys.tag, this.epoch, ...args], signal);
      } catch (error) {
        const retry = error instanceof AttemptError && (error.kind === 'unsent' || (idempotent && error.kind === 'unknown'));
        if (!retry || signal.aborted) throw signal.aborted ? signal.reason : error;
        await pause(signal);
      }
    }
  }

  #seen(revision: bigint, behind = 0n): void {
    if (revision > this.#highest) this.#highest = revision;
    if (behind > 0n) {
      process.emitWarning(
        `${this.link.where}: the revision counter ${this.keys.counter} was ${behind} behind the highest revision seen; ` +
          'it was lifted before handing out a new one (a failover to a lagging replica, a restart that lost writes, or the key was deleted)',
        { code: 'BATON_REDIS_COUNTER_BEHIND' },
      );
    }
  }

  /** Reads the epoch key, writing a new one if there is none (a new or emptied server). */
  async #adoptEpoch(signal: AbortSignal): Promise<string | undefined> {
    const fresh = randomBytes(8).toString('hex');
    const [previous] = await this.link.command('reading the epoch', (client) =>
      Promise.all([client.get(this.keys.epoch), client.set(this.keys.epoch, fresh, 'NX')]),
    );
    if (signal.aborted) throw signal.reason;
    const before = this.epoch;
    this.epoch = previous ?? fresh;
    return before;
  }

  /** The server lost Baton's data: say so, adopt the new epoch, lose the session. */
  async #dataLost(error: EpochChangedError): Promise<SessionLostError> {
    const before = this.epoch;
    if (error.current !== undefined) this.epoch = error.current;
    else await this.#adoptEpoch(AbortSignal.timeout(this.options.ttl * 1000)).catch(() => {});
    const lost = new SessionLostError(
      `${this.link.where} lost Baton's data: the epoch key ${this.keys.epoch} ${error.current === undefined ? 'is gone' : `changed from ${before} to ${error.current}`}. ` +
        'The server restarted without persistence, was flushed, or failed over to a replica that never had the data: every session, queue and hold of that time is gone. ' +
        `Revisions continue above ${this.#highest}, the highest this client saw; tokens other clients saw may repeat.`,
      { cause: error },
    );
    this.#current?.lose(lost);
    return lost;
  }

  session(signal: AbortSignal = AbortSignal.timeout(this.options.connectTimeoutMs)): Promise<Session> {
    if (this.#closed) return Promise.reject(new ClosedError('the coordinator was closed'));
    if (this.options.readOnly) return Promise.reject(readOnlyError());
    const current = this.#current;
    // A renewal in flight (one of its keys vanished) decides whether the session is still usable.
    const probing = current?.probing;
    if (probing) return probing.then(() => this.session(signal));
    if (current && !current.signal.aborted) return Promise.resolve(current);
    this.#opening ??= RedisSession.open(this.#host, signal)
      .then((session) => {
        if (this.#closed) {
          void session.end();
          throw new ClosedError('the coordinator was closed');
        }
        this.#current = session;
        return session;
      })
      .finally(() => {
        this.#opening = undefined;
      });
    return this.#opening;
  }

  /** A script that reads: an epoch change is adopted (and reported to the session) and the read retried. */
  async #read(script: Script, keys: readonly string[], args: readonly string[], signal: AbortSignal): Promise<unknown> {
    try {
      return await this.run(script, keys, args, signal, true);
    } catch (error) {
      if (!(error instanceof EpochChangedError)) throw error;
      await this.#dataLost(error);
      return this.run(script, keys, args, signal, true);
    }
  }

  async #list(prefix: string, signal: AbortSignal): Promise<{ entries: QueueEntry[]; earliestExpiry: number }> {
    const reply = (await this.#read(this.#reads.list, [this.keys.queue(prefix), this.keys.values(prefix), this.keys.epoch], [this.keys.channel(prefix)], signal)) as string[];
    const entries = entriesOf(prefix, reply.slice(1));
    for (const entry of entries) this.#seen(entry.revision as bigint);
    return { entries, earliestExpiry: Number(reply[0]) };
  }

  async list(prefix: string, signal: AbortSignal = this.#bound()): Promise<QueueEntry[]> {
    return (await this.#list(prefix, signal)).entries;
  }

  async #get(key: string, signal: AbortSignal): Promise<{ state: KeyState | undefined; sessionTtl: number }> {
    const { prefix, name } = splitKey(key);
    const k = this.keys;
    const reply = (await this.#read(this.#reads.get, [k.queue(prefix), k.values(prefix), k.data(key), k.epoch], [k.channel(prefix), name], signal)) as string[];
    if (reply[0] === 'N') return { state: undefined, sessionTtl: -1 };
    const revision = BigInt(reply[2] as string);
    this.#seen(revision);
    return { state: { value: reply[1] as string, revision }, sessionTtl: reply[0] === 'C' ? Number(reply[3]) : -1 };
  }

  async get(key: string, signal: AbortSignal = this.#bound()): Promise<KeyState | undefined> {
    return (await this.#get(key, signal)).state;
  }

  /**
   * Resolves once `key` (with `revision`, when given) is gone: on its deletion notification, or
   * when a re-read finds it gone. The channel is subscribed before the first read.
   */
  async waitForBlocker(key: string, revision: bigint | undefined, signal: AbortSignal): Promise<void> {
    this.#checkOpen();
    const { prefix, name } = splitKey(key);
    const k = this.keys;
    let done: (() => void) | undefined;
    const stopListening = await this.notifier.listen(
      prefix,
      (change) => {
        if (change.kind === 'd' && change.name === name && (revision === undefined || change.revision === revision)) done?.();
      },
      signal,
    );
    try {
      await abortable<void>(signal, (resolve, reject) => {
        done = resolve;
        let timer: NodeJS.Timeout | undefined;
        let reading = false;
        let again = false;
        const read = () => {
          if (reading) {
            again = true;
            return;
          }
          reading = true;
          clearTimeout(timer);
          this.#read(this.#reads.probe, [k.queue(prefix), k.values(prefix), k.epoch], [k.channel(prefix), name], signal).then(
            (reply) => {
              reading = false;
              const [found, ttl] = reply as [string, string];
              if (found === '' || (revision !== undefined && BigInt(found) !== revision)) {
                resolve();
                return;
              }
              if (again) {
                again = false;
                read();
                return;
              }
              // Look again when the blocker's session would expire if it is not renewed.
              if (Number(ttl) >= 0) timer = setTimeout(read, Number(ttl) + EXPIRY_MARGIN_MS);
            },
            (error: unknown) => {
              reading = false;
              // A read that failed because the link is down is repeated after the reconnect.
              if (error instanceof AttemptError && !signal.aborted) return;
              reject(error);
            },
          );
        };
        const stopResync = this.notifier.onResync(read);
        read();
        return () => {
          clearTimeout(timer);
          stopResync();
        };
      });
    } finally {
      stopListening();
    }
  }

  /** Reads `key` and watches it: any notification about it, its session's expiry or a reconnect. */
  async watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>> {
    this.#checkOpen();
    const { prefix, name } = splitKey(key);
    let fire: (() => void) | undefined;
    let fired = false;
    const stopListening = await this.notifier.listen(
      prefix,
      (change) => {
        if (change.name === name) fire ? fire() : (fired = true);
      },
      signal,
    );
    let read: { state: KeyState | undefined; sessionTtl: number };
    try {
      read = await this.#get(key, signal);
    } catch (error) {
      stopListening();
      throw error;
    }
    const changed = this.#changeSignal(signal, read.sessionTtl, (trigger) => {
      fire = trigger;
      if (fired) trigger();
    });
    void changed.finally(stopListening).catch(() => {});
    return { current: read.state, changed };
  }

  /** Lists `prefix` and watches it for the next creation or deletion under it. */
  async watchPrefix(prefix: string, signal: AbortSignal): Promise<Watched<QueueEntry[]>> {
    this.#checkOpen();
    let fire: (() => void) | undefined;
    let fired = false;
    const stopListening = await this.notifier.listen(
      prefix,
      (change) => {
        if (change.kind !== 'u') fire ? fire() : (fired = true);
      },
      signal,
    );
    let read: { entries: QueueEntry[]; earliestExpiry: number };
    try {
      read = await this.#list(prefix, signal);
    } catch (error) {
      stopListening();
      throw error;
    }
    const changed = this.#changeSignal(signal, read.earliestExpiry, (trigger) => {
      fire = trigger;
      if (fired) trigger();
    });
    void changed.finally(stopListening).catch(() => {});
    return { current: read.entries, changed };
  }

  /** The dashboard's scan (see scan.ts). */
  scan(prefix: string, signal: AbortSignal): Promise<Watched<ScanResult>> {
    this.#checkOpen();
    return scanRedis(
      { keys: this.keys, notifier: this.notifier, scanTree: this.#reads.scanTree, read: (script, keys, args, s) => this.#read(script, keys, args, s) },
      prefix,
      signal,
    );
  }

  /**
   * A change promise: resolved by `arm`'s trigger, at `expiresInMs` (a session in the read may
   * expire then: a possibly spurious change, never a missed one) and after a reconnect.
   */
  #changeSignal(signal: AbortSignal, expiresInMs: number, arm: (trigger: () => void) => void): Promise<void> {
    return abortable<void>(signal, (resolve) => {
      arm(resolve);
      const timer = expiresInMs >= 0 ? setTimeout(resolve, expiresInMs + EXPIRY_MARGIN_MS) : undefined;
      const stopResync = this.notifier.onResync(resolve);
      return () => {
        clearTimeout(timer);
        stopResync();
      };
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    const session = this.#current ?? (await this.#opening?.catch(() => undefined));
    await session?.end();
    this.#closed = true;
    this.notifier.close();
    this.link.close();
    this.health.closed();
  }

  #bound(): AbortSignal {
    return AbortSignal.timeout(Math.max(this.options.connectTimeoutMs, this.options.ttl * 1000));
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError('the coordinator was closed');
  }
}

function isReadOnly(script: Script): boolean {
  return Object.values(READ_ONLY_READS).includes(script);
}

function readOnlyError(): ConfigError {
  return new ConfigError(
    'this Redis coordinator is read only (readonly=true): it opens no session, so it can read queues but not join one or write; connect without readonly to acquire',
  );
}

function pause(signal: AbortSignal): Promise<void> {
  return abortable<void>(signal, (resolve) => {
    const timer = setTimeout(resolve, RETRY_PAUSE_MS);
    return () => clearTimeout(timer);
  });
}

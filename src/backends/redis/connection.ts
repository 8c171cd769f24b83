/**
 * One ioredis connection, set up so that Baton, not the client, decides about retries:
 * - no offline queue: a command issued while disconnected fails at once, known unsent;
 * - no resending after a reconnect: a command in flight when the link broke fails, its outcome
 *   unknown, and is never sent a second time behind Baton's back (guarded writes are at most once);
 * - every command has its own deadline (`commandTimeout`).
 * Scripts run with EVALSHA; after NOSCRIPT (a restarted or flushed server) the same call is sent
 * once with EVAL, which also loads the script again.
 * @module
 */
import { Redis, type RedisOptions as IoRedisOptions } from 'ioredis';
import { BackendError, ClosedError } from '../../errors.js';
import { abortable } from '../abortable.js';
import type { RedisOptions } from './config.js';
import type { Script } from './scripts.js';

/** How a failed attempt ended, which decides whether it may be retried. */
export type FailureKind =
  /** The command never left this client: retrying is always safe. */
  | 'unsent'
  /** Sent, but no answer: it may or may not have been applied. */
  | 'unknown'
  /** The server answered with an error: not applied. */
  | 'refused';

/** A failed attempt, classified. */
export class AttemptError extends BackendError {
  constructor(
    message: string,
    readonly kind: FailureKind,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The server's answer that the key epoch differs from the client's: the data was lost. */
export class EpochChangedError extends BackendError {
  constructor(readonly current: string | undefined) {
    super(`the epoch key is ${current === undefined ? 'gone' : `now ${current}`}`);
  }
}

/** How long one attempt may take: a third of the TTL at most (renewals come every third), 2 s at most. */
export function attemptTimeoutMs(ttlSeconds: number): number {
  return Math.max(200, Math.min(2000, (ttlSeconds * 1000) / 4));
}

/** ioredis options for Baton's connections. */
export function clientOptions(options: RedisOptions, role: string): IoRedisOptions {
  return {
    host: options.host,
    port: options.port,
    db: options.db,
    ...(options.auth ? { username: options.auth.username, password: options.auth.password } : {}),
    ...(options.tls ? { tls: { ca: options.tls.ca, cert: options.tls.cert, key: options.tls.key } } : {}),
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    autoResubscribe: false,
    maxRetriesPerRequest: 0,
    commandTimeout: attemptTimeoutMs(options.ttl),
    connectTimeout: options.connectTimeoutMs,
    connectionName: `baton-${role}`,
    // Reconnect quickly and for ever: Baton's own deadlines decide when waiting is over.
    retryStrategy: (times) => Math.min(50 * times, 500),
  };
}

/** Where a server is, for messages (never the password). */
export function describeServer(options: RedisOptions): string {
  return `Redis at ${options.tls ? 'rediss' : 'redis'}://${options.host}:${options.port}/${options.db}`;
}

/**
 * Connects `client` and resolves once it is ready; rejects with a BackendError that says what
 * went wrong (refused, unreachable, wrong credentials, TLS) after the first failure or the timeout.
 */
export async function connectClient(client: Redis, options: RedisOptions): Promise<void> {
  const where = describeServer(options);
  let lastError: unknown;
  const onError = (error: unknown) => {
    lastError = error;
  };
  client.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(explainConnectError(lastError, where, options, `no answer within ${options.connectTimeoutMs} ms`)),
        options.connectTimeoutMs,
      );
      client.once('ready', () => {
        clearTimeout(timer);
        resolve();
      });
      client.connect().catch((error: unknown) => {
        clearTimeout(timer);
        // The client reports the real cause (refused, auth) as an 'error' event; the rejection only says closed.
        reject(explainConnectError(lastError ?? error, where, options));
      });
    });
  } catch (error) {
    client.disconnect();
    throw error;
  } finally {
    client.off('error', onError);
  }
}

function explainConnectError(error: unknown, where: string, options: RedisOptions, fallback?: string): BackendError {
  const message = error instanceof Error ? error.message : String(error ?? fallback);
  const code = (error as { code?: string } | undefined)?.code;
  let why: string;
  if (/WRONGPASS|invalid username-password|NOAUTH|AUTH.*(failed|without any password)/i.test(message)) {
    why = options.auth
      ? `the server refused the credentials of user "${options.auth.username}" (${message}); check user:pass in the URL`
      : `the server needs a password (${message}); give redis://user:pass@host:port or the password field`;
  } else if (code === 'ECONNREFUSED') {
    why = `connection refused (${message}): is redis-server running on that port?`;
  } else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    why = `host not found (${message})`;
  } else if (/DB index is out of range/i.test(message)) {
    why = `database ${options.db} does not exist on this server (${message})`;
  } else if (/certificate|SSL|TLS|EPROTO|wrong version/i.test(message)) {
    why = `TLS failed (${message}); check rediss:// and the ca/cert/key`;
  } else if (fallback && error === undefined) {
    why = fallback;
  } else {
    why = `${message}${fallback ? ` (${fallback})` : ''}`;
  }
  return new BackendError(`cannot connect to ${where}: ${why}`, { cause: error });
}

/** Classifies an ioredis failure. */
export function classify(error: unknown): FailureKind {
  const message = error instanceof Error ? error.message : String(error);
  if (/enableOfflineQueue|Stream isn't writeable|Connection is closed/.test(message) && !/max retries/i.test(message)) {
    // "Connection is closed" is what a command gets when the client is ended before sending it.
    return 'unsent';
  }
  if ((error as { name?: string } | undefined)?.name === 'ReplyError') return 'refused';
  return 'unknown';
}

/** A Baton connection: one ioredis client plus script running with deadlines and abort. */
export class Link {
  readonly client: Redis;
  readonly where: string;
  #closed = false;

  constructor(
    readonly options: RedisOptions,
    role: string,
  ) {
    this.client = new Redis(clientOptions(options, role));
    this.where = describeServer(options);
    // Errors are reported through the commands that fail; the event only needs a listener.
    this.client.on('error', () => {});
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /**
   * Resolves when the client is ready (at once if it is), rejects with the signal's reason when
   * it aborts first.
   */
  whenReady(signal: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError('the coordinator was closed'));
    if (this.ready) return Promise.resolve();
    return abortable<void>(signal, (resolve, reject) => {
      const onReady = () => resolve();
      const onEnd = () => reject(new ClosedError('the coordinator was closed'));
      this.client.on('ready', onReady);
      this.client.on('end', onEnd);
      return () => {
        this.client.off('ready', onReady);
        this.client.off('end', onEnd);
      };
    });
  }

  /**
   * Runs a script once (EVALSHA, then EVAL after NOSCRIPT). Rejects with an {@link AttemptError}
   * saying whether the attempt may have been applied, an {@link EpochChangedError}, or the
   * signal's reason.
   */
  async run(script: Script, keys: readonly string[], args: readonly string[], signal?: AbortSignal): Promise<unknown> {
    if (this.#closed) throw new ClosedError('the coordinator was closed');
    if (signal?.aborted) throw signal.reason;
    const attempt = this.#evalsha(script, keys, args).catch((error: unknown) => {
      if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
        // The server has no copy of the script (restarted, or SCRIPT FLUSH): EVAL sends and loads it.
        return this.client.eval(script.source, keys.length, ...keys, ...args);
      }
      throw error;
    });
    const translated = attempt.catch((error: unknown) => {
      throw this.#translate(error, script.name);
    });
    if (!signal) return translated;
    translated.catch(() => {});
    return abortable(signal, (resolve, reject) => {
      translated.then(resolve, reject);
      return () => {};
    });
  }

  #evalsha(script: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.client.evalsha(script.sha, keys.length, ...keys, ...args);
  }

  #translate(error: unknown, what: string): Error {
    if (this.#closed) return new ClosedError('the coordinator was closed');
    const message = error instanceof Error ? error.message : String(error);
    const epoch = /^BATON_EPOCH (\S+)/.exec(message);
    if (epoch) return new EpochChangedError(epoch[1] === 'none' ? undefined : epoch[1]);
    const kind = classify(error);
    let detail = message;
    const moved = /^(?:MOVED|ASK) (\d+) (\S+)/.exec(message);
    if (moved) {
      detail = `${message}: this server is a Redis Cluster node that does not serve hash slot ${moved[1]}, where every key of prefix "${this.options.prefix}" lives (tag {${this.options.prefix}}); connect to ${moved[2]}, the node that serves it`;
    } else if (/CLUSTERDOWN|CROSSSLOT/.test(message)) {
      detail = `${message}: this server is a Redis Cluster node and the cluster does not serve the hash slot of {${this.options.prefix}}, where every key of prefix "${this.options.prefix}" lives; assign the slot (CLUSTER ADDSLOTS) or connect to the node that serves it`;
    } else if (/NOPERM/.test(message)) {
      detail = `${message}: the user needs EVAL/EVALSHA, PUBLISH/SUBSCRIBE and access to keys ~{${this.options.prefix}}* and channels &{${this.options.prefix}}*`;
    } else if (/READONLY/.test(message)) {
      detail = `${message}: this server is a replica; connect to the primary`;
    }
    return new AttemptError(`${this.where}: ${what} failed (${kind === 'unknown' ? 'outcome unknown' : kind}): ${detail}`, kind, { cause: error });
  }

  /** A plain command with the same translation. */
  async command<T>(what: string, send: (client: Redis) => Promise<T>): Promise<T> {
    if (this.#closed) throw new ClosedError('the coordinator was closed');
    try {
      return await send(this.client);
    } catch (error) {
      throw this.#translate(error, what);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.client.disconnect();
  }
}

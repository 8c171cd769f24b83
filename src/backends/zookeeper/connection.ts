/**
 * One ZooKeeper session, supervised: every request bounded in time, loss detected and reported.
 *
 * `node-zookeeper-client` leaves three gaps that a lock cannot live with. It has no request
 * timeouts (a request queued while disconnected waits for ever); it retries connecting for ever;
 * and while disconnected it cannot learn that its session expired, so a client cut off from the
 * ensemble would go on believing it holds its locks. This module closes them:
 *
 * - Every request is bounded by the loss deadline below: a request left unanswered ends the
 *   session, since the server answers in order and nothing sent after it is answered either.
 * - The session is declared lost at *last answer + session timeout*, where "last answer" is the
 *   send time of the latest request the server answered. The server heard from us no earlier
 *   than that, so it cannot expire the session before our deadline: we give up no later than
 *   the server does (Curator's "simulated LOST" counts from the disconnect instead, which is
 *   later). An idle connection sends a cheap heartbeat every third of the timeout, and a
 *   connection silent for two thirds of it is dropped so the client moves to another server,
 *   as the Java client's read timeout does.
 * - `expired` from the server, and an authentication failure, end the session at once.
 * - When the session ends, every pending request and watch is rejected, and the client is
 *   closed: an expired client is dead, and the backend opens a new one for later work.
 * @module
 */
import zookeeper from 'node-zookeeper-client';
import type { ACL, Client, Event, Stat } from 'node-zookeeper-client';
import { BackendError, ClosedError, SessionLostError } from '../../errors.js';
import type { ZooKeeperOptions } from './config.js';

/** Numeric ZooKeeper error codes (org.apache.zookeeper.KeeperException.Code). */
export const Code = {
  CONNECTION_LOSS: -4,
  NO_NODE: -101,
  NO_AUTH: -102,
  BAD_VERSION: -103,
  NO_CHILDREN_FOR_EPHEMERALS: -108,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112,
  AUTH_FAILED: -115,
} as const;

/** The ZooKeeper error code of an error from the client, or undefined for anything else. */
export function codeOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' && typeof (error as { getCode?: unknown }).getCode === 'function' ? code : undefined;
}

/** A czxid (or any zxid) from a Stat as a bigint. */
export function zxidOf(buffer: Buffer): bigint {
  return buffer.readBigUInt64BE(0);
}

/** One operation of a multi (transaction). */
export type MultiOp =
  | { readonly check: string; readonly version?: number }
  | { readonly create: string; readonly data: Buffer; readonly acl: ACL[]; readonly mode: number }
  | { readonly setData: string; readonly data: Buffer; readonly version?: number }
  | { readonly remove: string; readonly version?: number };

/** Why a multi failed: the index of the failing op and its error code. */
export class MultiError extends Error {
  constructor(
    readonly index: number,
    readonly code: number,
  ) {
    super(`ZooKeeper multi failed at op ${index} with code ${code}`);
  }
}

type Rejecter = (error: unknown) => void;

/** A connected, supervised ZooKeeper session. Create with {@link ZkConnection.open}. */
export class ZkConnection {
  readonly #controller = new AbortController();
  /** Aborts when the session is lost (a SessionLostError) or closed (a ClosedError). */
  readonly signal: AbortSignal = this.#controller.signal;
  /** Pending requests and watches, rejected when the session ends. */
  readonly #pending = new Set<Rejecter>();
  #lastAnswer = performance.now();
  #deadlineTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #heartbeatInFlight = false;
  #connectedWaiters = new Set<{ resolve: () => void; reject: Rejecter }>();
  #connected = false;

  private constructor(
    readonly client: Client,
    readonly endpoints: string,
  ) {}

  /** The session id as ZooKeeper tools print it (`0x` + 16 hex digits). */
  get sessionId(): string {
    return `0x${this.client.getSessionId().toString('hex')}`;
  }

  /** The session id as a bigint, to compare with a Stat's `ephemeralOwner`. */
  get sessionIdBigInt(): bigint {
    return this.client.getSessionId().readBigUInt64BE(0);
  }

  /** The session timeout the server granted, in milliseconds. */
  get timeout(): number {
    return this.client.getSessionTimeout();
  }

  /** Whether the session is still usable. */
  get alive(): boolean {
    return !this.signal.aborted;
  }

  /**
   * Connects a new client and waits for its session, for at most the session timeout per server
   * (node-zookeeper-client would retry for ever).
   */
  static async open(options: ZooKeeperOptions): Promise<ZkConnection> {
    const endpoints = options.endpoints.join(',');
    const client = zookeeper.createClient(endpoints, {
      sessionTimeout: options.sessionTimeout,
      spinDelay: Math.min(1000, Math.max(50, Math.floor(options.sessionTimeout / 10))),
      retries: 0,
    });
    if (options.auth) client.addAuthInfo('digest', Buffer.from(`${options.auth.username}:${options.auth.password}`));
    const connection = new ZkConnection(client, endpoints);
    const connectBound = Math.max(options.sessionTimeout, 2000) * Math.max(1, options.endpoints.length);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        connection.#shutdown(new BackendError(`could not connect to ZooKeeper at ${endpoints} within ${connectBound} ms`));
        reject(connection.signal.reason);
      }, connectBound);
      const onConnected = () => {
        cleanup();
        resolve();
      };
      const onAuthFailed = () => {
        cleanup();
        connection.#shutdown(new BackendError(`ZooKeeper at ${endpoints} rejected the credentials given for user "${options.auth?.username ?? ''}"`));
        reject(connection.signal.reason);
      };
      const cleanup = () => {
        clearTimeout(timer);
        client.removeListener('connected', onConnected);
        client.removeListener('authenticationFailed', onAuthFailed);
      };
      client.once('connected', onConnected);
      client.once('authenticationFailed', onAuthFailed);
      client.connect();
    });
    connection.#supervise();
    return connection;
  }

  #supervise(): void {
    this.#connected = true;
    this.#lastAnswer = performance.now();
    this.client.on('connected', () => {
      this.#connected = true;
      // The server accepted the session again: it has heard from us now.
      this.#heard(performance.now());
      for (const waiter of this.#connectedWaiters) waiter.resolve();
      this.#connectedWaiters.clear();
    });
    this.client.on('disconnected', () => {
      this.#connected = false;
    });
    this.client.on('expired', () => this.#shutdown(new SessionLostError(`ZooKeeper session ${this.sessionId} expired`)));
    this.client.on('authenticationFailed', () =>
      this.#shutdown(new BackendError(`ZooKeeper at ${this.endpoints} rejected the client's credentials`)),
    );
    this.#armDeadline();
    const third = Math.max(10, Math.floor(this.timeout / 3));
    this.#heartbeatTimer = setInterval(() => this.#heartbeat(), third);
    this.#heartbeatTimer.unref();
  }

  /** Fires at last answer + session timeout; re-arms itself if answers came in meanwhile. */
  #armDeadline(): void {
    const remaining = this.#lastAnswer + this.timeout - performance.now();
    this.#deadlineTimer = setTimeout(() => {
      if (this.signal.aborted) return;
      if (performance.now() >= this.#lastAnswer + this.timeout) {
        this.#shutdown(
          new SessionLostError(`ZooKeeper session ${this.sessionId} lost: no answer from ${this.endpoints} for its session timeout of ${this.timeout} ms`),
        );
      } else {
        this.#armDeadline();
      }
    }, Math.max(0, remaining));
    this.#deadlineTimer.unref();
  }

  #heard(sentAt: number): void {
    if (sentAt > this.#lastAnswer) this.#lastAnswer = sentAt;
  }

  #heartbeat(): void {
    if (this.signal.aborted) return;
    const silence = performance.now() - this.#lastAnswer;
    if (silence >= (this.timeout * 2) / 3 && this.#connected) {
      // Connected, yet nothing answered for two thirds of the timeout: drop this server.
      (this.client as unknown as { connectionManager?: { socket?: { destroy(): void } } }).connectionManager?.socket?.destroy();
    }
    if (silence >= this.timeout / 3 && !this.#heartbeatInFlight) {
      this.#heartbeatInFlight = true;
      this.exists('/').then(
        () => (this.#heartbeatInFlight = false),
        () => (this.#heartbeatInFlight = false),
      );
    }
  }

  /** Ends the session from our side: rejects everything pending and stops the client. */
  #shutdown(reason: Error): void {
    if (this.signal.aborted) return;
    this.#controller.abort(reason);
    clearTimeout(this.#deadlineTimer);
    clearInterval(this.#heartbeatTimer);
    for (const reject of [...this.#pending]) reject(reason);
    this.#pending.clear();
    for (const waiter of this.#connectedWaiters) waiter.reject(reason);
    this.#connectedWaiters.clear();
    try {
      this.client.close();
    } catch {
      // already closed
    }
    if (!(reason instanceof ClosedError)) {
      // Stop the reconnect loop at once; a lost session has nothing left to say to the server.
      (this.client as unknown as { connectionManager?: { socket?: { destroy(): void } } }).connectionManager?.socket?.destroy();
    }
  }

  /** Marks the session lost (e.g. its own node was found owned by nobody). */
  lose(reason: Error): void {
    this.#shutdown(reason);
  }

  /**
   * Closes the session so the server deletes its ephemeral nodes at once. Waits (briefly) for
   * the server to confirm, by the socket closing after the close-session request.
   */
  async close(): Promise<void> {
    if (this.signal.aborted) return;
    const wasConnected = this.#connected;
    const closed = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(2000, this.timeout));
      this.client.once('disconnected', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.#shutdown(new ClosedError('the coordinator was closed'));
    if (wasConnected) await closed;
  }

  /** Resolves when the client is connected (at once if it is); rejects when the session ends. */
  whenConnected(): Promise<void> {
    if (this.signal.aborted) return Promise.reject(this.signal.reason);
    if (this.#connected) return Promise.resolve();
    return new Promise((resolve, reject) => this.#connectedWaiters.add({ resolve, reject }));
  }

  /**
   * Registers a watch's reject function, called if the session ends first (a watch of an ended
   * session never fires). Returns the unregister function.
   */
  track(reject: Rejecter): () => void {
    if (this.signal.aborted) {
      reject(this.signal.reason);
      return () => {};
    }
    this.#pending.add(reject);
    return () => this.#pending.delete(reject);
  }

  /**
   * Sends one request and waits at most one session timeout for its answer. The callback-style
   * `run` gets the client's callback; errors come back as the client's Exception objects.
   */
  request<T>(what: string, run: (callback: (error: unknown, result?: T) => void) => void): Promise<T> {
    if (this.signal.aborted) return Promise.reject(this.signal.reason);
    // No timer per request: the server answers a session's requests in order, so while this one
    // is unanswered nothing sent after it is answered either, the last answer stays older than
    // this request, and the loss deadline (last answer + session timeout) ends the session, and
    // this request with it, no later than a per-request timeout would. Ending the session also
    // keeps a request still queued in the client from reaching the server later (an orphan node).
    const sentAt = performance.now();
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const onLost: Rejecter = (error) => {
        if (done) return;
        done = true;
        reject(error);
      };
      this.#pending.add(onLost);
      try {
        run((error, result) => {
          if (done) return;
          done = true;
          this.#pending.delete(onLost);
          if (error === null || error === undefined) {
            this.#heard(sentAt);
            resolve(result as T);
            return;
          }
          const code = codeOf(error);
          // Any answer from the server (an error code included) proves the session is alive.
          if (error instanceof MultiError || (code !== undefined && code !== Code.CONNECTION_LOSS && code !== Code.SESSION_EXPIRED)) this.#heard(sentAt);
          reject(error);
        });
      } catch (error) {
        done = true;
        this.#pending.delete(onLost);
        reject(error);
      }
    });
  }

  /**
   * Runs `send`, which issues several requests back to back, with the socket corked, so that
   * they leave in one write (one segment) instead of one write each.
   */
  pipeline<T>(send: () => T): T {
    const socket = (this.client as unknown as { connectionManager?: { socket?: { cork(): void; uncork(): void; destroyed?: boolean } } })
      .connectionManager?.socket;
    if (!socket || socket.destroyed || !this.#connected) return send();
    socket.cork();
    try {
      return send();
    } finally {
      socket.uncork();
    }
  }

  // Typed wrappers over the client's callback API.

  create(path: string, data: Buffer, acl: ACL[], mode: number): Promise<string> {
    return this.request(`create ${path}`, (cb) => this.client.create(path, data, acl, mode, cb));
  }

  remove(path: string, version = -1): Promise<void> {
    return this.request(`delete ${path}`, (cb) => this.client.remove(path, version, (error) => cb(error)));
  }

  /** The node's Stat, or null when it does not exist. With a watcher: fires on create/delete/change. */
  exists(path: string, watcher?: (event: Event) => void): Promise<Stat | null> {
    return this.request(`exists ${path}`, (cb) =>
      watcher ? this.client.exists(path, watcher, cb) : this.client.exists(path, cb),
    );
  }

  getData(path: string, watcher?: (event: Event) => void): Promise<{ data: Buffer | undefined; stat: Stat }> {
    return this.request(`getData ${path}`, (cb) => {
      const callback = (error: unknown, data?: Buffer, stat?: Stat) => cb(error, error ? undefined : { data, stat: stat as Stat });
      if (watcher) this.client.getData(path, watcher, callback);
      else this.client.getData(path, callback);
    });
  }

  getChildren(path: string, watcher?: (event: Event) => void): Promise<{ children: string[]; stat: Stat }> {
    return this.request(`getChildren ${path}`, (cb) => {
      const callback = (error: unknown, children?: string[], stat?: Stat) =>
        cb(error, error ? undefined : { children: children ?? [], stat: stat as Stat });
      if (watcher) this.client.getChildren(path, watcher, callback);
      else this.client.getChildren(path, callback);
    });
  }

  setData(path: string, data: Buffer, version = -1): Promise<Stat> {
    return this.request(`setData ${path}`, (cb) => this.client.setData(path, data, version, cb));
  }

  /**
   * Commits `ops` atomically; resolves to the per-op results (`path` of a create, `stat` of a
   * setData); rejects with a {@link MultiError} naming the failing op.
   */
  multi(ops: readonly MultiOp[]): Promise<Array<{ path?: string; stat?: Stat }>> {
    const transaction = this.client.transaction();
    for (const op of ops) {
      if ('check' in op) transaction.check(op.check, op.version ?? -1);
      else if ('create' in op) transaction.create(op.create, op.data, op.acl, op.mode);
      else if ('setData' in op) transaction.setData(op.setData, op.data, op.version ?? -1);
      else transaction.remove(op.remove, op.version ?? -1);
    }
    return this.request('multi', (cb) =>
      transaction.commit((error, results: Array<{ type: number; err?: number; path?: string; stat?: Stat }> | undefined) => {
        if (error && codeOf(error) !== undefined && Array.isArray(results)) {
          const index = results.findIndex((result) => result.type === -1 && result.err !== 0 && result.err !== -2);
          const failed = results[index];
          if (failed) {
            cb(new MultiError(index, failed.err ?? 0));
            return;
          }
        }
        cb(error, results ?? []);
      }),
    );
  }
}

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
 * - Only the leader expires sessions, and a follower answers reads from its own copy even when it
 *   is cut off from the leader. So the deadline moves only on answers that went through the
 *   leader: a `sync` (the heartbeat) or a write (create, delete, setData, multi), error answers
 *   included. A follower tells the leader which sessions it heard from in its replies to the
 *   leader's pings, every half tick, so the leader may know of a request only that much after the
 *   follower got it. An answer sent at time t therefore proves contact at t minus a ping allowance
 *   ({@link leaderLagOf}). The leader cannot expire the session before *that + session timeout*,
 *   and Baton declares it lost a guard ahead of it (../loss-guard.ts), so that it gives up before
 *   the leader does even when its timer runs a little late. Reads never move it.
 * - A heartbeat `sync` goes out every fifth of the timeout ({@link heartbeatIntervalOf}) whatever
 *   else is in flight, so any silence shorter than timeout - interval - ping allowance (minus a
 *   round trip) keeps the session, whatever its phase. A connection that has proved nothing for
 *   half the timeout since its handshake answer (or since the latest request the leader answered,
 *   if later) is dropped so the client moves to another server, as the Java client's read timeout
 *   does. Counting from the handshake answer, not from the connect's start: a slow handshake (a
 *   cold ensemble) must not leave the new connection only a heartbeat interval to live.
 * - `expired` from the server, and an authentication failure, end the session at once.
 * - When the session ends, every pending request and watch is rejected, and the client is
 *   closed: an expired client is dead, and the backend opens a new one for later work.
 * @module
 */
import zookeeper from 'node-zookeeper-client';
import type { ACL, Client, Event, Stat } from 'node-zookeeper-client';
import { BackendError, ClosedError, SessionLostError } from '../../errors.js';
import { lossDeadline } from '../loss-guard.js';
import type { ZooKeeperOptions } from './config.js';
import { setChildWatch, setDataWatch, type WatchedManager } from './child-watches.js';
import { readAnswers, type AnsweringManager } from './answers.js';
import {
  aclBytesOf,
  CREATE2_OPCODE,
  DELETE_OPCODE,
  framedRequest,
  GET_CHILDREN2_OPCODE,
  GET_DATA_OPCODE,
  ignoreAnswer,
  readChildrenAnswer,
  readCreate2Answer,
  SYNC_OPCODE,
  writePath,
} from './frames.js';

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

/** How often a heartbeat `sync` goes out: a fifth of the session timeout. */
export function heartbeatIntervalOf(timeout: number): number {
  return Math.max(10, Math.floor(timeout / 5));
}

/**
 * How much earlier than its send time an answer from the leader may have been recorded for the
 * session there: a follower reports the sessions it heard from in its replies to the leader's
 * pings, every half tick. Half of ZooKeeper's default tick of 2 s, and never more than a fifth of
 * the timeout (ZooKeeper's smallest timeout is two ticks by default, so half a tick is at most a
 * quarter of it).
 */
export function leaderLagOf(timeout: number): number {
  return Math.min(1000, Math.floor(timeout / 5));
}

/** What the connection manager of `node-zookeeper-client` exposes, untyped by the package. */
interface ConnectionManager {
  socket?: { destroy(): void; cork(): void; uncork(): void; destroyed?: boolean; connecting?: boolean };
  onSocketError(error: unknown): void;
  onSocketConnected(): void;
  onSocketData(buffer: Buffer): void;
  queue(request: unknown, callback: (error: unknown, response?: never) => void): void;
  /** Where the client keeps its watches: notified once, set again on the server after a reconnect. */
  watcherManager: WatchedManager['watcherManager'];
  registerChildWatcher(path: string, watcher: (event: Event) => void): void;
  registerDataWatcher(path: string, watcher: (event: Event) => void): void;
  servers: Array<{ host: string; port: number }>;
}

/** The least time a reconnect's session handshake gets before it is dropped and tried again. */
const HANDSHAKE_PATIENCE_MS = 1000;

/** A connected, supervised ZooKeeper session. Create with {@link ZkConnection.open}. */
export class ZkConnection {
  readonly #controller = new AbortController();
  /** Aborts when the session is lost (a SessionLostError) or closed (a ClosedError). */
  readonly signal: AbortSignal = this.#controller.signal;
  /** Pending requests and watches, rejected when the session ends. */
  readonly #pending = new Set<Rejecter>();
  /** Send time, less the leader lag, of the latest request the leader is known to have seen. */
  #lastProof = performance.now();
  /** Send time of that request, to tell a server that stopped answering. */
  #lastProofSent = performance.now();
  /** Send time of the latest request through the leader (answered or not). */
  #leaderSentAt = -Infinity;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #heartbeatInFlight = false;
  #connectedWaiters = new Set<{ resolve: () => void; reject: Rejecter }>();
  #connected = false;
  /**
   * When the current connection's handshake was answered: the silence rule of {@link #tick}
   * counts from here at the earliest, so a slow handshake does not count as silence.
   */
  #connectedAt = performance.now();
  /** A reconnect attempt seen waiting for the server's handshake, and since when. */
  #handshaking: { socket: unknown; since: number } | undefined;
  /** The socket corked until the end of this turn of the event loop (see {@link #coalesce}). */
  #corked: { uncork(): void } | undefined;
  /** How often the client reconnected to this session (see {@link reconnects}). */
  #reconnects = 0;
  /**
   * When the handshake request of the latest connection attempt was sent: the leader creates (or
   * revalidates) the session only after it, so its answer proves contact no earlier than this.
   */
  #handshakeSentAt = performance.now();

  private constructor(
    readonly client: Client,
    readonly endpoints: string,
  ) {}

  /** The session id as ZooKeeper tools print it (`0x` + 16 hex digits). */
  get sessionId(): string {
    return `0x${this.client.getSessionId().toString('hex')}`;
  }

  /** The session timeout the server granted, in milliseconds. */
  get timeout(): number {
    return this.client.getSessionTimeout();
  }

  /**
   * When (epoch ms) the session is declared lost unless an answer through the leader comes first:
   * {@link #lossDeadline} on the wall clock.
   */
  get lossAt(): number {
    return Date.now() + (this.#lossDeadline - performance.now());
  }

  /** Whether the session is still usable. */
  get alive(): boolean {
    return !this.signal.aborted;
  }

  /** Whether the session is usable and its client in contact with a server now. */
  get connected(): boolean {
    return this.#connected && !this.signal.aborted;
  }

  /**
   * Connects a new client and waits for its session, for at most `timeoutMs` (default: the session
   * timeout per server, as node-zookeeper-client would retry for ever), failing at once when every
   * server refused the connection, and with `signal.reason` when `signal` aborts.
   */
  static async open(options: ZooKeeperOptions, bounds: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<ZkConnection> {
    const endpoints = options.endpoints.join(',');
    const client = zookeeper.createClient(endpoints, {
      sessionTimeout: options.sessionTimeout,
      spinDelay: Math.min(1000, Math.max(50, Math.floor(options.sessionTimeout / 10))),
      retries: 0,
    });
    if (options.auth) client.addAuthInfo('digest', Buffer.from(`${options.auth.username}:${options.auth.password}`));
    const connection = new ZkConnection(client, endpoints);
    const connectBound = bounds.timeoutMs ?? Math.max(options.sessionTimeout, 2000) * Math.max(1, options.endpoints.length);
    const { signal } = bounds;
    // The client swallows socket errors and retries; listen to them to say why nothing answers.
    const refused = new Set<string>();
    const lastErrors = new Map<string, string>();
    const manager = managerOf(client);
    readAnswers(manager as unknown as AnsweringManager);
    connection.#stampHandshakes(manager);
    const onSocketError = manager.onSocketError;
    await new Promise<void>((resolve, reject) => {
      const fail = (error: Error) => {
        cleanup();
        connection.#shutdown(error);
        reject(connection.signal.reason);
      };
      const why = () => (lastErrors.size === 0 ? 'no answer' : [...lastErrors].map(([endpoint, error]) => `${error} at ${endpoint}`).join(', '));
      const timer = setTimeout(() => fail(new BackendError(`could not connect to ZooKeeper at ${endpoints} within ${connectBound} ms: ${why()}`)), connectBound);
      manager.onSocketError = function (this: ConnectionManager, error: unknown) {
        const code = (error as { code?: string }).code;
        const target = error as { address?: string; port?: number };
        const endpoint = target.address !== undefined ? `${target.address}:${target.port}` : 'a server';
        lastErrors.set(endpoint, code === 'ECONNREFUSED' ? 'connection refused' : String((error as Error).message ?? error));
        if (code === 'ECONNREFUSED') refused.add(endpoint);
        onSocketError.call(this, error);
        if (refused.size >= options.endpoints.length) fail(new BackendError(`could not connect to ZooKeeper: ${why()}`));
      };
      const onAbort = () => fail(signal!.reason instanceof Error ? signal!.reason : new BackendError(String(signal!.reason)));
      const onConnected = () => {
        connection.#connectedAt = performance.now();
        cleanup();
        resolve();
      };
      const onAuthFailed = () => fail(new BackendError(`ZooKeeper at ${endpoints} rejected the credentials given for user "${options.auth?.username ?? ''}"`));
      const cleanup = () => {
        clearTimeout(timer);
        manager.onSocketError = onSocketError;
        signal?.removeEventListener('abort', onAbort);
        client.removeListener('connected', onConnected);
        client.removeListener('authenticationFailed', onAuthFailed);
      };
      if (signal?.aborted) {
        clearTimeout(timer);
        manager.onSocketError = onSocketError;
        reject(signal.reason);
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      client.once('connected', onConnected);
      client.once('authenticationFailed', onAuthFailed);
      client.connect();
    });
    connection.#supervise();
    return connection;
  }

  /**
   * Records when each connection attempt sends its handshake (the client writes it as soon as the
   * TCP connection is up): the proof time of the session the answer creates.
   */
  #stampHandshakes(manager: ConnectionManager): void {
    const onSocketConnected = manager.onSocketConnected;
    const stamp = () => (this.#handshakeSentAt = performance.now());
    manager.onSocketConnected = function (this: ConnectionManager) {
      stamp();
      onSocketConnected.call(this);
    };
  }

  #supervise(): void {
    this.#connected = true;
    // The connect answer came through the leader (a new session is a write), which created the
    // session after the handshake request was sent: count from that send, less the ping allowance.
    // Not from the first attempt: after retries that could be most of the timeout ago.
    this.#lastProofSent = this.#handshakeSentAt;
    this.#lastProof = this.#handshakeSentAt - leaderLagOf(this.timeout);
    this.client.on('connected', () => {
      this.#connected = true;
      this.#connectedAt = performance.now();
      this.#reconnects++;
      // Reconnected to the same session: prove it through the leader at once.
      this.#heartbeat();
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
    // Dropping the connection destroys the answers not read yet: see #afterAnswersOnTheWay.
    this.#heartbeatTimer = setInterval(() => this.#afterAnswersOnTheWay(() => this.#tick()), heartbeatIntervalOf(this.timeout));
    this.#heartbeatTimer.unref();
    this.#heartbeat();
  }

  /**
   * performance.now() at which the session is declared lost: the last proof plus the session
   * timeout, less the guard ({@link lossDeadline}) that lets a late timer still come first.
   */
  get #lossDeadline(): number {
    return lossDeadline(this.#lastProof, this.timeout);
  }

  /** Fires at {@link #lossDeadline}; re-arms itself if proofs came in meanwhile. */
  #armDeadline(): void {
    const remaining = this.#lossDeadline - performance.now();
    this.#deadlineTimer = setTimeout(() => this.#afterAnswersOnTheWay(() => this.#judgeDeadline()), Math.max(0, remaining));
    this.#deadlineTimer.unref();
  }

  #judgeDeadline(): void {
    if (this.signal.aborted) return;
    if (performance.now() >= this.#lossDeadline) {
      this.#shutdown(
        new SessionLostError(
          `ZooKeeper session ${this.sessionId} lost: no answer through the leader from ${this.endpoints} for its session timeout of ${this.timeout} ms`,
        ),
      );
    } else {
      this.#armDeadline();
    }
  }

  /**
   * Runs `judge` (the loss deadline, the silence check) at once, or after the answers already
   * received are read when one of them could still keep the session: a request through the
   * leader is unanswered and was sent recently enough that its answer would move the deadline
   * past now. Node runs due timers before it reads the sockets, so after this process was busy
   * past the deadline (10,000 waiters entering over 100 coordinators at once held the event loop
   * for 5 s at a time) a heartbeat's answer that came in time, waiting unread, would lose to it:
   * the silence check dropped the connection (and the answer), the deadline declared the session
   * lost. setImmediate runs after the next pass over the sockets. When no answer could help (the
   * process was frozen past the timeout, everything in flight older than that), the verdict is
   * not put after what the server said meanwhile (its deletion of the session's nodes among it).
   */
  #afterAnswersOnTheWay(judge: () => void): void {
    const inFlight = this.#leaderSentAt > this.#lastProofSent;
    if (inFlight && lossDeadline(this.#leaderSentAt - leaderLagOf(this.timeout), this.timeout) > performance.now()) setImmediate(judge);
    else judge();
  }

  /** An answer to a request sent at `sentAt` went through the leader. */
  #proved(sentAt: number): void {
    if (sentAt <= this.#lastProofSent) return;
    this.#lastProofSent = sentAt;
    this.#lastProof = sentAt - leaderLagOf(this.timeout);
  }

  #tick(): void {
    if (this.signal.aborted) return;
    if (this.#connected && performance.now() - Math.max(this.#lastProofSent, this.#connectedAt) >= this.timeout / 2) {
      // Connected, yet nothing went through the leader for half the timeout since the handshake
      // answer or the latest proof: drop this server.
      managerOf(this.client).socket?.destroy();
    }
    if (!this.#connected) this.#abandonStalledHandshake();
    this.#heartbeat();
  }

  /**
   * Drops a reconnect attempt whose TCP connection is up but whose session handshake went
   * unanswered for {@link HANDSHAKE_PATIENCE_MS} or a heartbeat interval, whichever is longer, so
   * the client tries again. A server that is starting can accept a connection and never answer it,
   * and the client, which stops its connect timer once the TCP connection is up, would wait on it
   * until the session is lost.
   */
  #abandonStalledHandshake(): void {
    const socket = managerOf(this.client).socket;
    if (socket === undefined || socket.destroyed || socket.connecting !== false) {
      this.#handshaking = undefined;
      return;
    }
    if (this.#handshaking?.socket !== socket) {
      this.#handshaking = { socket, since: performance.now() };
      return;
    }
    const patience = Math.max(HANDSHAKE_PATIENCE_MS, heartbeatIntervalOf(this.timeout));
    if (performance.now() - this.#handshaking.since >= patience) {
      this.#handshaking = undefined;
      socket.destroy();
    }
  }

  /** Sends a `sync` unless one is in flight: its answer proves the leader saw this session. */
  #heartbeat(): void {
    if (this.signal.aborted || this.#heartbeatInFlight) return;
    this.#heartbeatInFlight = true;
    this.sync().then(
      () => (this.#heartbeatInFlight = false),
      () => (this.#heartbeatInFlight = false),
    );
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
      managerOf(this.client).socket?.destroy();
    }
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
   * How often the client reconnected to this session. Within one connection the server's answers
   * and watch events arrive in the order of its changes; on a reconnect it reports every watched
   * node deleted meanwhile at once, in the order the client lists its watches, not in the order of
   * the deletions. News that arrives after a reconnect may therefore overtake older news.
   */
  get reconnects(): number {
    return this.#reconnects;
  }

  /**
   * Resolves once everything the server sent this session before the call has been delivered and
   * reacted to: the answer to a read sent now comes after all of it, and a turn of the event loop
   * later every promise reaction to it has run. Sent again after a connection loss; rejects when
   * the session ends.
   */
  async fence(): Promise<void> {
    for (;;) {
      try {
        await this.exists('/');
        break;
      } catch (error) {
        if (codeOf(error) !== Code.CONNECTION_LOSS) throw error;
        await this.whenConnected();
      }
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
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
   * `throughLeader`: the request is a write or a sync, whose answer (an error code included)
   * proves that the leader saw the session when it was sent; a read's answer proves nothing, since
   * a follower cut off from the leader still answers reads.
   */
  request<T>(throughLeader: boolean, run: (callback: (error: unknown, result?: T) => void) => void): Promise<T> {
    if (this.signal.aborted) return Promise.reject(this.signal.reason);
    // No timer per request: the server answers a session's requests in order, and a heartbeat
    // goes out every fifth of the timeout, so while this one is unanswered no proof comes in, and
    // the loss deadline ends the session, and this request with it, no later than a per-request
    // timeout would. Ending the session also keeps a request still queued in the client from
    // reaching the server later (an orphan node).
    const sentAt = performance.now();
    if (throughLeader) this.#leaderSentAt = sentAt;
    this.#coalesce();
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
          const code = codeOf(error);
          const answered = error === null || error === undefined || error instanceof MultiError || (code !== undefined && code !== Code.CONNECTION_LOSS && code !== Code.SESSION_EXPIRED);
          if (answered && throughLeader) this.#proved(sentAt);
          if (error === null || error === undefined) resolve(result as T);
          else reject(error);
        });
      } catch (error) {
        done = true;
        this.#pending.delete(onLost);
        reject(error);
      }
    });
  }

  /**
   * Holds the requests of this turn of the event loop back and sends them in one write when the
   * turn ends (before the loop polls again). The server answers a session's requests in order
   * whatever segments carry them, and each write is a system call with the loopback's TCP work
   * behind it, which costs more than building the request. Requests come in bursts from one
   * answer: an enqueue's create and listing, then the own-node watch together with the
   * blocker's watch (or, for a hold granted at once, with its release when the caller releases
   * right away).
   */
  #coalesce(): void {
    if (this.#corked) return;
    const socket = managerOf(this.client).socket;
    if (!socket || socket.destroyed || !this.#connected) return;
    socket.cork();
    this.#corked = socket;
    setImmediate(() => {
      this.#corked = undefined;
      socket.uncork();
    });
  }

  /**
   * A `sync` of `/`: the server passes it to the leader and answers once the leader has. The
   * client has no sync call, so the request is framed here (./frames.ts); the echoed path of its
   * answer is not read.
   */
  sync(): Promise<void> {
    return this.request(true, (cb) => {
      const request = framedRequest(SYNC_OPCODE, 4 + 1, (frame, offset) => writePath(frame, offset, '/', 1), ignoreAnswer);
      managerOf(this.client).queue(request, (error) => cb(error ?? null));
    });
  }

  /**
   * A `create2`: creates the node and answers with its path and its Stat, whose `czxid` is the
   * token; the client's own `create` answers with the path alone, and the czxid would cost another
   * request. Framed here, as {@link sync} is, and its answer read here too: the path and the
   * czxid, nothing else of the Stat.
   */
  create2(path: string, data: Buffer, acl: ACL[], mode: number): Promise<{ path: string; stat: { czxid: Buffer } }> {
    return this.request(true, (cb) => {
      const aclBytes = aclBytesOf(acl);
      const pathLength = Buffer.byteLength(path, 'utf8');
      const request = framedRequest(CREATE2_OPCODE, 4 + pathLength + 4 + data.length + aclBytes.length + 4, (frame, offset) => {
        offset = writePath(frame, offset, path, pathLength);
        offset = frame.writeInt32BE(data.length, offset);
        offset += data.copy(frame, offset);
        offset += aclBytes.copy(frame, offset);
        frame.writeInt32BE(mode, offset);
      }, readCreate2Answer);
      managerOf(this.client).queue(request, cb);
    });
  }

  // Typed wrappers over the client's callback API.

  create(path: string, data: Buffer, acl: ACL[], mode: number): Promise<string> {
    return this.request(true, (cb) => this.client.create(path, data, acl, mode, cb));
  }

  /**
   * A delete, framed here as {@link create2} is: an uncontended acquire's release sends one, and
   * the client's own `remove` goes through its retry loop (`async.whilst`, even with no retry
   * configured) and its generic record encoder, a measurable part of the client's time per
   * release (issue 11). Its answer has no payload.
   */
  remove(path: string, version = -1): Promise<void> {
    return this.request(true, (cb) => {
      const pathLength = Buffer.byteLength(path, 'utf8');
      const request = framedRequest(DELETE_OPCODE, 4 + pathLength + 4, (frame, offset) => {
        offset = writePath(frame, offset, path, pathLength);
        frame.writeInt32BE(version, offset);
      }, ignoreAnswer);
      managerOf(this.client).queue(request, (error) => cb(error ?? null));
    });
  }

  /** The node's Stat, or null when it does not exist. With a watcher: fires on create/delete/change. */
  exists(path: string, watcher?: (event: Event) => void): Promise<Stat | null> {
    return this.request(false, (cb) =>
      watcher ? this.client.exists(path, watcher, cb) : this.client.exists(path, cb),
    );
  }

  getData(path: string, watcher?: (event: Event) => void): Promise<{ data: Buffer | undefined; stat: Stat }> {
    return this.request(false, (cb) => {
      const callback = (error: unknown, data?: Buffer, stat?: Stat) => cb(error, error ? undefined : { data, stat: stat as Stat });
      if (watcher) this.client.getData(path, watcher, callback);
      else this.client.getData(path, callback);
    });
  }

  /**
   * A data watch on `path`, set by a getData whose answer is not read: resolves once it is set,
   * rejects with the client's NO_NODE when the node is gone (no watch is then set). A waiting
   * contender sends two, on its own node and on the node ahead of it (./nodes.ts), so it is
   * framed here, as {@link getChildren} is: the client's own `getData` goes through its retry loop
   * and its generic encoder, and made an EventEmitter per watched path (issue 11). The watcher
   * goes where the client's `getData` puts it, on a successful answer only (./child-watches.ts),
   * so the client notifies it, and sets it again on the server after a reconnect, as for any
   * watch of its own.
   */
  watchData(path: string, watcher: (event: Event) => void): Promise<void> {
    return this.request(false, (cb) => {
      const pathLength = Buffer.byteLength(path, 'utf8');
      const request = framedRequest(GET_DATA_OPCODE, 4 + pathLength + 1, (frame, offset) => {
        offset = writePath(frame, offset, path, pathLength);
        frame.writeUInt8(1, offset);
      }, ignoreAnswer);
      const manager = managerOf(this.client);
      manager.queue(request, (error: unknown) => {
        if (error) {
          cb(error);
          return;
        }
        setDataWatch(manager, path, watcher);
        cb(null);
      });
    });
  }

  /**
   * The children; with a watcher, a child watch on `path`. Framed here, as {@link remove} is
   * (every enqueue sends one), and its answer read here: the names, not the parent's Stat. The
   * watcher goes where the client's `getChildren` puts it, on a successful answer only
   * (./child-watches.ts): the client notifies it, and sets it again on the server after a
   * reconnect, as for any watch of its own.
   */
  getChildren(path: string, watcher?: (event: Event) => void): Promise<{ children: string[] }> {
    return this.request(false, (cb) => {
      const pathLength = Buffer.byteLength(path, 'utf8');
      const request = framedRequest(GET_CHILDREN2_OPCODE, 4 + pathLength + 1, (frame, offset) => {
        offset = writePath(frame, offset, path, pathLength);
        frame.writeUInt8(watcher ? 1 : 0, offset);
      }, readChildrenAnswer);
      const manager = managerOf(this.client);
      manager.queue(request, (error: unknown, listed?: { children: string[] }) => {
        if (error) {
          cb(error);
          return;
        }
        if (watcher) setChildWatch(manager, path, watcher);
        cb(null, listed);
      });
    });
  }

  setData(path: string, data: Buffer, version = -1): Promise<Stat> {
    return this.request(true, (cb) => this.client.setData(path, data, version, cb));
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
    return this.request(true, (cb) =>
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

function managerOf(client: Client): ConnectionManager {
  return (client as unknown as { connectionManager: ConnectionManager }).connectionManager;
}

/**
 * The cluster's members as the client sees them: one HTTP/2 session per member, opened on first
 * use; which member to ask next (the one that answered last, unless it has just failed); a
 * deadline on every attempt; retries on another member; auth tokens.
 * @module
 */
import http2 from 'node:http2';
import { isIP } from 'node:net';
import { raceSignal } from '../../abortable.js';
import type { ProtoReader } from './codec.js';
import { isInvalidToken } from './failures.js';
import { GrpcStream, type StreamHandlers, TransportError } from './grpc.js';
import { Member } from './member.js';
import { decodeAuthenticate, framedAuthenticate, Methods } from './messages.js';
import { speaksOtherScheme } from './scheme-probe.js';
import { destroySession } from './teardown.js';
import { timeoutAfterIo } from './after-io.js';
import { type CallHost, type CallOptions, unaryCall } from './unary-call.js';

export { isMisconfigured, isRetryable } from './failures.js';
export { Member } from './member.js';
export type { CallOptions } from './unary-call.js';

/** How to reach the members. */
export interface PoolOptions {
  readonly endpoints: readonly string[];
  readonly https: boolean;
  readonly tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  readonly auth?: { username: string; password: string };
}

/**
 * An attempt's deadline: this much above the latency seen recently. Loopback answers take a few
 * milliseconds; a member that does not answer in half a second is frozen, partitioned or
 * overloaded, and another member is asked.
 */
const ATTEMPT_MARGIN_MS = 400;
const ATTEMPT_MAX_MS = 3000;
/**
 * Authenticate makes the server check the password with bcrypt (cost 10 by default, and each step
 * of `--bcrypt-cost` doubles it): hundreds of milliseconds on a busy member, far above a read's
 * latency. An attempt cut at a read's deadline is retried, which only queues more hashing.
 */
const AUTHENTICATE_ATTEMPT_MS = 5000;
/** A member that failed is asked only when no other is left, for this long. */
const SUSPECT_MS = 2000;
/**
 * HTTP/2 PING on sessions with open streams. etcd answers pings more often than every 5 s
 * (`--grpc-keepalive-min-time`) with GOAWAY: stay above it. A ping unanswered within the timeout
 * fails the member only if nothing at all was read from the connection meanwhile: the ack is
 * queued in the TCP stream behind the data frames sent before it, and a connection delivering
 * large answers slowly (100 coordinators sharing it, each listing a 10,000-key queue) had its ack
 * arrive late and was killed, with every call on it, while it was alive and delivering. gRPC's own
 * keepalive counts data read since the ping as liveness too (grpc-go's http2 client checks its
 * last read time before closing the transport).
 */
const PING_INTERVAL_MS = 6000;
const PING_TIMEOUT_MS = 3000;
/**
 * HTTP/2 receive windows. Node's default, 64 KB for the connection as for each stream, lets a
 * member send that much before this process reads it and says so: with the coordinators of a
 * process sharing one connection, 100 of them each listing a 10,000-key queue (600 KB each) moved
 * 64 KB per turn of a busy event loop for all of them together, and every call ran past its
 * deadline. With separate connections each had its own 64 KB.
 */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 64 * 1024 * 1024;
/** A TLS/plaintext mismatch probe (see scheme-probe.ts) takes at most this long, at most once this often per member. */
const PROBE_TIMEOUT_MS = 1000;
const PROBE_INTERVAL_MS = 1000;

/** A stream and the member it runs on. */
export type MemberStream = GrpcStream & { readonly member: Member };

export class MemberPool implements CallHost {
  readonly members: readonly Member[];
  readonly #options: PoolOptions;
  #preferred: Member;
  #latencyMs = 5;
  #token: string | undefined;
  #authenticating: Promise<string | undefined> | undefined;
  #closed = false;
  readonly #pinger: NodeJS.Timeout;
  readonly #suspectListeners = new Set<(member: Member) => void>();
  /** Sessions on which the member has spoken HTTP/2 (sent its SETTINGS). */
  readonly #spoke = new WeakSet<http2.ClientHttp2Session>();
  /** Counts calls by method name (tests assert on request counts). */
  readonly calls = new Map<string, number>();
  /** Called for every unary call and stream opened, with its method name (for tests). */
  onCall: ((method: string) => void) | undefined;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.members = options.endpoints.map((endpoint, i) => new Member(endpoint, i));
    this.#preferred = this.members[0] as Member;
    this.#pinger = setInterval(() => this.#pingAll(), PING_INTERVAL_MS);
    this.#pinger.unref();
  }

  /** Whether the config asks for TLS. */
  get https(): boolean {
    return this.#options.https;
  }

  /** The deadline of one attempt, from the latency seen recently. */
  get attemptTimeoutMs(): number {
    return Math.min(ATTEMPT_MAX_MS, Math.round(ATTEMPT_MARGIN_MS + 4 * this.#latencyMs));
  }

  /** Called when a member is found failing (streams on it move elsewhere). */
  onSuspect(listener: (member: Member) => void): () => void {
    this.#suspectListeners.add(listener);
    return () => this.#suspectListeners.delete(listener);
  }

  /** The member to ask next, avoiding those in `tried`; undefined when every member was tried. */
  pick(tried?: ReadonlySet<Member>): Member | undefined {
    const preferred = this.#preferred;
    if (!tried?.has(preferred) && !preferred.suspect) return preferred;
    let fallback: Member | undefined;
    const n = this.members.length;
    for (let i = 1; i <= n; i++) {
      const member = this.members[(preferred.index + i) % n] as Member;
      if (tried?.has(member)) continue;
      if (!member.suspect) return member;
      if (!fallback || member.suspectUntil < fallback.suspectUntil) fallback = member;
    }
    return fallback;
  }

  /** The member answered: prefer it from now on, and learn the latency. */
  answered(member: Member, latencyMs?: number): void {
    member.lastAnswer = performance.now();
    member.suspectUntil = 0;
    this.#preferred = member;
    if (latencyMs !== undefined) this.#latencyMs += (latencyMs - this.#latencyMs) / 8;
  }

  /** The member failed to answer: avoid it for a while, and tell the streams on it. */
  failed(member: Member, error: unknown): void {
    if (this.#closed) return;
    member.suspectUntil = performance.now() + SUSPECT_MS;
    if (error instanceof TransportError) {
      // A connection that failed or timed out is not reused: the next use connects afresh.
      const session = member.session;
      member.session = undefined;
      if (session) destroySession(session);
    }
    for (const listener of this.#suspectListeners) listener(member);
  }

  /**
   * An attempt on `member` timed out although its connection delivered answers well after the
   * attempt was sent (too late to have been sent before a freeze): the member is slow (busy, or
   * many calls share the connection's bandwidth), not gone. It is avoided for a while, but its
   * connection is kept, with every call and stream on it: the coordinators of a process share it
   * (../shared-connection.ts), and destroying it failed the calls in flight of all of them, which
   * were then all sent again at once. Seen with 100 coordinators each listing a 10,000-key queue:
   * every retry round timed out again, until the calls' budget was spent.
   */
  slow(member: Member): void {
    if (this.#closed) return;
    member.suspectUntil = performance.now() + SUSPECT_MS;
  }

  /** The member's HTTP/2 session, connecting if there is none. */
  session(member: Member): http2.ClientHttp2Session {
    const existing = member.session;
    if (existing && !existing.closed && !existing.destroyed) return existing;
    const [host, port] = splitHostPort(member.endpoint);
    const authority = `${this.#options.https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const tls = this.#options.tls ?? {};
    const session = http2.connect(authority, {
      ...(this.#options.https
        ? {
            ...(tls.ca ? { ca: tls.ca } : {}),
            ...(tls.cert ? { cert: tls.cert } : {}),
            ...(tls.key ? { key: tls.key } : {}),
            // No SNI for an IP address (RFC 6066 forbids it, and Node warns, DEP0123); the
            // certificate is still checked against the IP.
            ...(isIP(host) ? { servername: '' } : { servername: host }),
            ALPNProtocols: ['h2'],
          }
        : {}),
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW_BYTES },
    });
    // The connection's receive window, beside each stream's: a shared connection carries the
    // answers of every coordinator of the process at once.
    session.once('connect', () => {
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch {
        // closed meanwhile
      }
    });
    session.on('error', (error: Error) => {
      // The calls on it fail on their own (and say why, from this); the session is dropped below.
      member.lastError = error;
    });
    session.on('connect', () => {
      member.lastError = undefined;
    });
    session.once('remoteSettings', () => this.#spoke.add(session));
    session.on('goaway', () => {
      // No new calls on a session the member is closing; calls in flight finish or fail.
      if (member.session === session) member.session = undefined;
    });
    session.on('close', () => {
      if (member.session === session) member.session = undefined;
    });
    member.session = session;
    return session;
  }

  #pingAll(): void {
    for (const member of this.members) {
      const session = member.session;
      if (!session || member.streams === 0 || session.closed || session.destroyed || !session.socket) continue;
      let answered = false;
      const readBefore = bytesRead(session);
      const timer = timeoutAfterIo(() => {
        if (answered || member.session !== session) return;
        // Bytes arrived since the ping: the connection is alive, its ack just queued behind them.
        if (bytesRead(session) > readBefore) this.answered(member);
        else this.failed(member, new TransportError(`no answer to a ping from ${member.endpoint}`, member.endpoint, true, true));
      }, PING_TIMEOUT_MS);
      timer.unref();
      try {
        session.ping((error) => {
          answered = true;
          clearTimeout(timer);
          if (!error) this.answered(member);
        });
      } catch {
        clearTimeout(timer);
      }
    }
  }

  /** The auth token to send, authenticating first when the config has credentials. */
  async token(signal?: AbortSignal): Promise<string | undefined> {
    if (!this.#options.auth) return undefined;
    if (this.#token) return this.#token;
    this.#authenticating ??= this.#authenticate(signal).finally(() => {
      this.#authenticating = undefined;
    });
    return this.#authenticating;
  }

  async #authenticate(signal?: AbortSignal): Promise<string | undefined> {
    const auth = this.#options.auth as { username: string; password: string };
    const body = framedAuthenticate(auth.username, auth.password);
    this.#token = (await unaryCall(this, Methods.authenticate, body, { signal, attemptMs: AUTHENTICATE_ATTEMPT_MS }, undefined, decodeAuthenticate)).token;
    return this.#token;
  }

  /** Forgets a token the server called invalid (it expired, or auth was re-enabled). */
  invalidateToken(token?: string): void {
    if (token === undefined || this.#token === token) this.#token = undefined;
  }

  /**
   * One unary call of `method` with `framedBody` (a request with its gRPC prefix): attempts on
   * member after member, each with its own deadline, until one answers, the server refuses for
   * good, the signal aborts, or the budget is spent (unary-call.ts). Resolves to the answer as
   * `decode` reads it.
   */
  call<T>(method: string, framedBody: Buffer, options: CallOptions, decode: (answer: ProtoReader) => T): Promise<T> {
    this.onCall?.(method);
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    // Without credentials there is no token to fetch or renew: no extra async step per call.
    if (!this.#options.auth) return unaryCall(this, method, framedBody, options, undefined, decode);
    return this.#withToken(method, framedBody, options, decode);
  }

  async #withToken<T>(method: string, framedBody: Buffer, options: CallOptions, decode: (answer: ProtoReader) => T): Promise<T> {
    for (let renewed = false; ; renewed = true) {
      const token = await this.token(options.signal);
      try {
        return await unaryCall(this, method, framedBody, options, token, decode);
      } catch (error) {
        if (!isInvalidToken(error) || renewed || !this.#options.auth) throw error;
        this.invalidateToken(token);
      }
    }
  }

  /**
   * Whether a connection that failed at once, before the member spoke HTTP/2, failed because the
   * member speaks TLS and the config asks for plaintext, or the reverse (see scheme-probe.ts).
   * A connection refused, an attempt that timed out (a frozen member) or a session that worked
   * before are never probed; a member at most once a second.
   */
  probeScheme(member: Member, session: http2.ClientHttp2Session, error: unknown, signal: AbortSignal | undefined): Promise<boolean> | undefined {
    if (!(error instanceof TransportError) || error.timedOut || this.#spoke.has(session)) return undefined;
    if ((error.cause as { code?: string } | undefined)?.code === 'ECONNREFUSED') return undefined;
    const now = performance.now();
    if (now - member.probedAt < PROBE_INTERVAL_MS) return undefined;
    member.probedAt = now;
    const [host, port] = splitHostPort(member.endpoint);
    const probe = speaksOtherScheme(host, port, this.#options.https, Math.min(PROBE_TIMEOUT_MS, this.attemptTimeoutMs));
    return raceSignal(probe, signal);
  }

  /** Opens a bidirectional stream on `member` (the preferred one when not given). */
  async stream(method: string, handlers: StreamHandlers, member = this.pick() as Member, extraHeaders?: Record<string, string>): Promise<MemberStream> {
    this.onCall?.(method);
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    const token = await this.token();
    member.streams++;
    let counted = true;
    const uncount = () => {
      if (counted) member.streams--;
      counted = false;
    };
    const stream = new GrpcStream(this.session(member), member.endpoint, method, token, extraHeaders, {
      onMessage: (message) => {
        member.lastAnswer = performance.now();
        handlers.onMessage(message);
      },
      onClose: (error) => {
        uncount();
        handlers.onClose(error);
      },
    });
    const close = stream.close.bind(stream);
    stream.close = () => {
      uncount();
      close();
    };
    return Object.assign(stream, { member });
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#pinger);
    for (const member of this.members) {
      const session = member.session;
      member.session = undefined;
      if (session) destroySession(session);
    }
  }
}

/** Bytes read so far from the session's connection (0 once it has none). */
function bytesRead(session: http2.ClientHttp2Session): number {
  return session.socket?.bytesRead ?? 0;
}

function splitHostPort(endpoint: string): [string, number] {
  const match = /^\[?(.*?)\]?:(\d+)$/.exec(endpoint);
  if (!match) return [endpoint, 2379];
  return [match[1] as string, Number(match[2])];
}

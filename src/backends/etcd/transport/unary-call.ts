/**
 * One unary call: attempts on member after member, each with its own deadline, until one
 * answers, the server refuses for good, the signal aborts, or the budget is spent. One object and
 * one promise per call, whatever the number of attempts: the loop runs on the attempts'
 * callbacks, and the answer is decoded before the promise settles, so a call costs its caller
 * one promise and no suspended frame.
 * @module
 */
import type http2 from 'node:http2';
import { canAbort } from '../../abortable.js';
import type { ProtoReader } from './codec.js';
import { isRetryable, outcomeUnknown, withConnectionError } from './failures.js';
import { type AttemptOwner, GrpcError, TransportError, UnaryAttempt } from './grpc.js';
import type { Member } from './member.js';
import { SchemeMismatchError } from './scheme-probe.js';

/** Options of one call. */
export interface CallOptions {
  /** Aborting it ends the call at once with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /**
   * A write that must not be sent twice: after an attempt whose outcome is unknown the call
   * rejects with that TransportError instead of retrying.
   */
  readonly atMostOnce?: boolean;
  /** Give up retrying after this long (default 15 s); each attempt has its own deadline anyway. */
  readonly budgetMs?: number;
  /** The deadline of each attempt, when the server's work is known to take longer than a read's. */
  readonly attemptMs?: number;
}

/** What a call needs of the member pool. */
export interface CallHost {
  readonly closed: boolean;
  /** The deadline of one attempt, from the latency seen recently. */
  readonly attemptTimeoutMs: number;
  /** Whether the config asks for TLS. */
  readonly https: boolean;
  /** The member to ask next, avoiding those in `tried`; undefined when every member was tried. */
  pick(tried?: ReadonlySet<Member>): Member | undefined;
  /** The member's HTTP/2 session, connecting if there is none. */
  session(member: Member): http2.ClientHttp2Session;
  answered(member: Member, latencyMs?: number): void;
  failed(member: Member, error: unknown): void;
  slow(member: Member): void;
  /**
   * Whether a failure shows that the member speaks the other scheme (TLS or plaintext) than the
   * config asks for; undefined when the failure is not one to probe for (see scheme-probe.ts).
   */
  probeScheme(member: Member, session: http2.ClientHttp2Session, error: unknown, signal: AbortSignal | undefined): Promise<boolean> | undefined;
}

const DEFAULT_BUDGET_MS = 15_000;
/** Backoff between rounds over every member: capped at 500 ms, with jitter. */
const FIRST_BACKOFF_MS = 25;
const MAX_BACKOFF_MS = 500;

/**
 * Sends `framedBody` (a request with its gRPC prefix) to `method` and resolves to the answer as
 * `decode` reads it.
 */
export function unaryCall<T>(
  host: CallHost,
  method: string,
  framedBody: Buffer,
  options: CallOptions,
  token: string | undefined,
  decode: (answer: ProtoReader) => T,
): Promise<T> {
  return new Promise<T>((resolve, reject) => new UnaryCall(host, method, framedBody, options, token, decode, resolve, reject).next());
}

class UnaryCall<T> implements AttemptOwner {
  readonly #signal: AbortSignal | undefined;
  readonly #giveUpAt: number;
  /** The members tried in this round (made on the first failure: most calls need none). */
  #tried: Set<Member> | undefined;
  #backoff = FIRST_BACKOFF_MS;
  #last: unknown;
  // The attempt in flight.
  #member: Member | undefined;
  #session: http2.ClientHttp2Session | undefined;
  #started = 0;
  #attemptMs = 0;

  constructor(
    private readonly host: CallHost,
    private readonly method: string,
    private readonly body: Buffer,
    private readonly options: CallOptions,
    private readonly token: string | undefined,
    private readonly decode: (answer: ProtoReader) => T,
    private readonly resolve: (value: T) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    // A signal that can never abort is not listened to (an acquire with no limits passes one).
    const signal = options.signal;
    this.#signal = signal !== undefined && canAbort(signal) ? signal : undefined;
    this.#giveUpAt = performance.now() + (options.budgetMs ?? DEFAULT_BUDGET_MS);
  }

  /** Starts the next attempt, or waits before the next round, or gives up. */
  next(): void {
    const { host } = this;
    try {
      if (host.closed) throw new TransportError('the client was closed', '', false);
      this.#signal?.throwIfAborted();
      const member = host.pick(this.#tried);
      if (!member) {
        // Every member tried once: wait a little, then go round again.
        const backoff = this.#backoff;
        if (performance.now() + backoff > this.#giveUpAt) throw this.#last;
        sleep(backoff / 2 + Math.random() * (backoff / 2), this.#signal).then(() => {
          this.#backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
          this.#tried = undefined;
          this.next();
        }, this.reject);
        return;
      }
      this.#member = member;
      this.#started = performance.now();
      this.#session = host.session(member);
      this.#attemptMs = this.options.attemptMs ?? host.attemptTimeoutMs;
      new UnaryAttempt(this.#session, member.endpoint, this.method, this.body, this.token, this.#attemptMs, this.#signal, this);
    } catch (error) {
      this.reject(error);
    }
  }

  attemptAnswered(answer: ProtoReader): void {
    this.host.answered(this.#member as Member, performance.now() - this.#started);
    let value: T;
    try {
      value = this.decode(answer);
    } catch (error) {
      this.reject(error);
      return;
    }
    this.resolve(value);
  }

  attemptFailed(failure: unknown): void {
    const signal = this.#signal;
    if (signal?.aborted) return this.reject(signal.reason);
    const member = this.#member as Member;
    const error = withConnectionError(failure, member);
    if (!isRetryable(error)) {
      // The member answered (with a refusal): it is healthy.
      if (error instanceof GrpcError) this.host.answered(member);
      return this.reject(error);
    }
    const probing = this.host.probeScheme(member, this.#session as http2.ClientHttp2Session, error, signal);
    if (!probing) return this.#retry(error);
    probing.then((mismatch) => {
      if (mismatch) this.reject(new SchemeMismatchError(member.endpoint, !this.host.https));
      else this.#retry(error);
    }, this.reject);
  }

  /** After a failure worth retrying: the member is avoided (or counted slow), and the next attempt goes. */
  #retry(error: unknown): void {
    const member = this.#member as Member;
    if (error instanceof TransportError && error.timedOut && this.#session === member.session && member.lastAnswer > this.#started + this.#attemptMs / 2) {
      this.host.slow(member);
    } else this.host.failed(member, error);
    this.#last = error;
    (this.#tried ??= new Set()).add(member);
    if (this.options.atMostOnce && outcomeUnknown(error)) return this.reject(error);
    if (performance.now() >= this.#giveUpAt) return this.reject(error);
    this.next();
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

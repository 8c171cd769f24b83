/**
 * gRPC over one `node:http2` session, framed by hand: a message is one flag byte (0: not
 * compressed), a 4-byte big-endian length and the protobuf bytes; a call is one HTTP/2 stream
 * (POST to `/<service>/<method>`), and its status arrives in the trailers (`grpc-status`,
 * `grpc-message`), or in the headers of a trailers-only answer.
 * @module
 */
import http2 from 'node:http2';
import { ProtoReader } from './codec.js';
import { cancelStream } from './teardown.js';
import { DeadlineTimer, type Expiring } from '../../deadline-timer.js';

/** gRPC status codes the adapter tells apart. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** The server answered with a non-OK gRPC status: the call reached etcd and was refused. */
export class GrpcError extends Error {
  override readonly name = 'GrpcError';
  constructor(
    readonly code: number,
    readonly details: string,
    readonly endpoint: string,
  ) {
    super(details || `gRPC status ${code}`);
  }
}

/**
 * The call did not get an answer: a deadline passed, the connection failed or was reset, or the
 * member said GOAWAY. `maybeApplied` is false only when the request certainly never left (the
 * connection could not be made), so a write may have been applied otherwise.
 */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(
    message: string,
    readonly endpoint: string,
    readonly maybeApplied: boolean,
    readonly timedOut = false,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** One gRPC message framed for the wire. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** Splits a stream of DATA chunks into gRPC messages. */
export class Deframer {
  #pending: Buffer | undefined;

  /** Every complete message in `chunk` (and what was left over before it). */
  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    let data = this.#pending ? Buffer.concat([this.#pending, chunk]) : chunk;
    this.#pending = undefined;
    while (data.length >= 5) {
      const length = data.readUInt32BE(1);
      if (data.length < 5 + length) break;
      if (data[0] !== 0) throw new Error('compressed gRPC message (not requested, not supported)');
      onMessage(data.subarray(5, 5 + length));
      data = data.subarray(5 + length);
    }
    if (data.length > 0) this.#pending = Buffer.from(data);
  }
}

/** Headers of a call to `path`, with the auth token when there is one. */
export function callHeaders(path: string, token: string | undefined, extra?: Record<string, string>): http2.OutgoingHttpHeaders {
  const headers: http2.OutgoingHttpHeaders = {
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
  };
  if (token) headers.token = token;
  if (extra) Object.assign(headers, extra);
  return headers;
}

function statusOf(headers: http2.IncomingHttpHeaders): { code: number; message: string } | undefined {
  const raw = headers['grpc-status'];
  if (raw === undefined) return undefined;
  const message = String(headers['grpc-message'] ?? '');
  let decoded = message;
  try {
    decoded = decodeURIComponent(message);
  } catch {
    // not percent-encoded after all
  }
  return { code: Number(raw), message: decoded };
}

/** Where a {@link UnaryAttempt} reports its outcome: exactly one of the two, once. */
export interface AttemptOwner {
  attemptAnswered(answer: ProtoReader): void;
  attemptFailed(error: unknown): void;
}

/**
 * The deadlines of the unary attempts in flight, in every client of the process: one timer for
 * them all (see deadline-timer.ts), decided after the answers already received are read.
 */
const attemptDeadlines = new DeadlineTimer();

/** How many unary attempts' deadlines are watched (for tests). */
export function watchedAttemptDeadlines(): number {
  return attemptDeadlines.size;
}

/** The attempt a call's stream belongs to (its listeners are shared functions, not closures). */
const ATTEMPT = Symbol('attempt');
type AttemptStream = http2.ClientHttp2Stream & { [ATTEMPT]: UnaryAttempt };

/**
 * One attempt of a unary call on `session`: reports a reader over the answer, a
 * {@link GrpcError} (the server refused) or a {@link TransportError} (no answer within its
 * deadline, the stream was reset, the connection went away), or the signal's reason, to its
 * owner. Made for every request, so it costs one object and its stream: the stream's listeners
 * are module functions that find the attempt on the stream, the deadline is watched by the
 * process's one deadline timer ({@link attemptDeadlines}), and a signal is listened to only when given.
 */
export class UnaryAttempt implements Expiring {
  readonly expiresAt: number;
  readonly #owner: AttemptOwner;
  readonly #endpoint: string;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  #stream: http2.ClientHttp2Stream | undefined;
  /** The answer's DATA: one chunk (the usual case), or several. */
  #data: Buffer | Buffer[] | undefined;
  #status: { code: number; message: string } | undefined;
  #streamError: Error | undefined;
  #settled = false;
  #onAbort: (() => void) | undefined;

  constructor(
    session: http2.ClientHttp2Session,
    endpoint: string,
    path: string,
    framedBody: Buffer,
    token: string | undefined,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    owner: AttemptOwner,
  ) {
    this.#owner = owner;
    this.#endpoint = endpoint;
    this.#timeoutMs = timeoutMs;
    this.#signal = signal;
    this.expiresAt = performance.now() + timeoutMs;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(token ? callHeaders(path, token) : (UNARY_HEADERS.get(path) ?? unaryHeaders(path)), REQUEST_OPTIONS);
    } catch (error) {
      this.#settled = true;
      owner.attemptFailed(new TransportError(`cannot start a call on ${endpoint}: ${(error as Error).message}`, endpoint, false, false, { cause: error }));
      return;
    }
    this.#stream = stream;
    (stream as AttemptStream)[ATTEMPT] = this;
    attemptDeadlines.watch(this);
    if (signal) {
      this.#onAbort = () => this.#finish(signal.reason);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    stream.on('response', onResponse);
    stream.on('trailers', onTrailers);
    stream.on('data', onData);
    stream.on('error', onError);
    stream.on('close', onClose);
    stream.end(framedBody);
  }

  /** The deadline passed without an answer (called by the deadline timer). */
  expire(): void {
    this.#finish(new TransportError(`no answer from ${this.#endpoint} within ${this.#timeoutMs} ms`, this.#endpoint, true, true));
  }

  response(headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
    this.#status = statusOf(headers) ?? this.#status;
    const httpStatus = headers[':status'];
    if (httpStatus !== 200 && this.#status === undefined) {
      this.#status = { code: GrpcStatus.UNKNOWN, message: `HTTP status ${httpStatus} from ${this.#endpoint}` };
    }
  }

  trailers(headers: http2.IncomingHttpHeaders): void {
    this.#status = statusOf(headers) ?? this.#status;
    // The answer is complete with its trailers: decided now, not a turn later at 'close'.
    if (this.#status?.code === GrpcStatus.OK && this.#complete()) this.#decide();
  }

  data(chunk: Buffer): void {
    const data = this.#data;
    if (data === undefined) this.#data = chunk;
    else if (Array.isArray(data)) data.push(chunk);
    else this.#data = [data, chunk];
  }

  error(error: Error): void {
    // 'close' follows and decides.
    this.#streamError = error;
  }

  closed(): void {
    if (this.#settled) return;
    const stream = this.#stream as http2.ClientHttp2Stream;
    if (this.#status === undefined) {
      const why = this.#streamError ? this.#streamError.message : stream.rstCode ? `stream reset (HTTP/2 code ${stream.rstCode})` : 'connection lost';
      // Before the stream was opened (it has an id once its HEADERS went out) nothing was sent:
      // the request certainly was not applied.
      this.#finish(new TransportError(`${why} (${this.#endpoint}, before an answer)`, this.#endpoint, stream.id !== undefined, false, { cause: this.#streamError }));
      return;
    }
    this.#decide();
  }

  /** Whether the answer's one message has arrived whole. */
  #complete(): boolean {
    const data = this.#joined();
    return data !== undefined && data.length >= 5 && data.length >= 5 + data.readUInt32BE(1);
  }

  #joined(): Buffer | undefined {
    const data = this.#data;
    if (!Array.isArray(data)) return data;
    const joined = Buffer.concat(data);
    this.#data = joined;
    return joined;
  }

  /** Decides from the status and the data received. */
  #decide(): void {
    const status = this.#status as { code: number; message: string };
    if (status.code !== GrpcStatus.OK) {
      this.#finish(new GrpcError(status.code, status.message, this.#endpoint));
      return;
    }
    const data = this.#joined();
    if (data === undefined || data.length < 5) {
      this.#finish(new TransportError(`an empty answer from ${this.#endpoint}`, this.#endpoint, true));
      return;
    }
    this.#finish(undefined, new ProtoReader(data, 5, 5 + data.readUInt32BE(1)));
  }

  #finish(error: unknown, answer?: ProtoReader): void {
    if (this.#settled) return;
    this.#settled = true;
    attemptDeadlines.forget(this);
    if (this.#onAbort) this.#signal?.removeEventListener('abort', this.#onAbort);
    if (error !== undefined) {
      if (this.#stream) cancelStream(this.#stream);
      this.#owner.attemptFailed(error);
    } else this.#owner.attemptAnswered(answer as ProtoReader);
  }
}

function onResponse(this: AttemptStream, headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
  this[ATTEMPT].response(headers);
}
function onTrailers(this: AttemptStream, headers: http2.IncomingHttpHeaders): void {
  this[ATTEMPT].trailers(headers);
}
function onData(this: AttemptStream, chunk: Buffer): void {
  this[ATTEMPT].data(chunk);
}
function onError(this: AttemptStream, error: Error): void {
  this[ATTEMPT].error(error);
}
function onClose(this: AttemptStream): void {
  this[ATTEMPT].closed();
}

const REQUEST_OPTIONS = { endStream: false } as const;

/** The headers of a call without a token, made once per method (Node copies them per request). */
const UNARY_HEADERS = new Map<string, http2.OutgoingHttpHeaders>();

function unaryHeaders(path: string): http2.OutgoingHttpHeaders {
  const headers = callHeaders(path, undefined);
  UNARY_HEADERS.set(path, headers);
  return headers;
}

/** Handlers of a bidirectional stream. */
export interface StreamHandlers {
  onMessage(message: ProtoReader): void;
  /** The stream ended: `error` is a GrpcError, a TransportError, or undefined for a clean end. */
  onClose(error: GrpcError | TransportError | undefined): void;
}

/** A bidirectional gRPC stream (Watch, LeaseKeepAlive) on one session. */
export class GrpcStream {
  readonly endpoint: string;
  readonly #stream: http2.ClientHttp2Stream;
  #closed = false;

  constructor(
    session: http2.ClientHttp2Session,
    endpoint: string,
    path: string,
    token: string | undefined,
    extraHeaders: Record<string, string> | undefined,
    handlers: StreamHandlers,
  ) {
    this.endpoint = endpoint;
    let status: { code: number; message: string } | undefined;
    const deframer = new Deframer();
    const stream = session.request(callHeaders(path, token, extraHeaders), { endStream: false });
    this.#stream = stream;
    stream.on('response', (headers) => {
      status = statusOf(headers) ?? status;
    });
    stream.on('trailers', (headers) => {
      status = statusOf(headers) ?? status;
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.#closed) return;
      try {
        deframer.push(chunk, (message) => handlers.onMessage(new ProtoReader(message)));
      } catch (error) {
        this.close();
        handlers.onClose(new TransportError(`a malformed message from ${endpoint}: ${(error as Error).message}`, endpoint, true));
      }
    });
    let streamError: Error | undefined;
    stream.on('error', (error: Error) => {
      // 'close' follows and decides.
      streamError = error;
    });
    stream.on('close', () => {
      if (this.#closed) return;
      this.#closed = true;
      if (status !== undefined && status.code !== GrpcStatus.OK) handlers.onClose(new GrpcError(status.code, status.message, endpoint));
      else if (status === undefined) {
        const why = streamError ? streamError.message : stream.rstCode ? `stream reset (HTTP/2 code ${stream.rstCode})` : 'connection lost';
        handlers.onClose(new TransportError(`${why} (${endpoint})`, endpoint, true, false, { cause: streamError }));
      } else handlers.onClose(undefined);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(message: Buffer): void {
    if (this.#closed) return;
    this.#stream.write(frame(message));
  }

  /** Ends the stream from this side (the reset goes out on the next turn); no handler is called after. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    cancelStream(this.#stream);
  }
}

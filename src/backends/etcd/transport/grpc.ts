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
import { timeoutAfterIo } from './after-io.js';

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

/**
 * One unary call on `session`: resolves to a reader over the answer, rejects with a
 * {@link GrpcError} (the server refused) or a {@link TransportError} (no answer within
 * `timeoutMs`, the stream was reset, the connection went away), or the signal's reason.
 */
export function unary(
  session: http2.ClientHttp2Session,
  endpoint: string,
  path: string,
  body: Buffer,
  token: string | undefined,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<ProtoReader> {
  return new Promise((resolve, reject) => {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(callHeaders(path, token), { endStream: false });
    } catch (error) {
      reject(new TransportError(`cannot start a call on ${endpoint}: ${(error as Error).message}`, endpoint, false, false, { cause: error }));
      return;
    }
    const chunks: Buffer[] = [];
    let status: { code: number; message: string } | undefined;
    let settled = false;
    let ready = false;
    let streamError: Error | undefined;
    stream.once('ready', () => (ready = true));
    const finish = (error: unknown, answer?: ProtoReader) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error !== undefined) {
        cancelStream(stream);
        reject(error);
      } else resolve(answer as ProtoReader);
    };
    const onAbort = () => finish(signal?.reason);
    // An answer already received when the deadline comes due is read first (see after-io.ts).
    const timer = timeoutAfterIo(() => finish(new TransportError(`no answer from ${endpoint} within ${timeoutMs} ms`, endpoint, true, true)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('response', (headers) => {
      status = statusOf(headers) ?? status;
      const httpStatus = headers[':status'];
      if (httpStatus !== 200 && status === undefined) {
        status = { code: GrpcStatus.UNKNOWN, message: `HTTP status ${httpStatus} from ${endpoint}` };
      }
    });
    stream.on('trailers', (headers) => {
      status = statusOf(headers) ?? status;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (error: Error) => {
      // 'close' follows and decides.
      streamError = error;
    });
    stream.on('close', () => {
      if (settled) return;
      if (status === undefined) {
        const why = streamError ? streamError.message : stream.rstCode ? `stream reset (HTTP/2 code ${stream.rstCode})` : 'connection lost';
        // Before the stream was opened nothing was sent: the request certainly was not applied.
        finish(new TransportError(`${why} (${endpoint}, before an answer)`, endpoint, ready, false, { cause: streamError }));
        return;
      }
      if (status.code !== GrpcStatus.OK) {
        finish(new GrpcError(status.code, status.message, endpoint));
        return;
      }
      const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      if (data.length < 5) {
        finish(new TransportError(`an empty answer from ${endpoint}`, endpoint, true));
        return;
      }
      const length = data.readUInt32BE(1);
      finish(undefined, new ProtoReader(data, 5, 5 + length));
    });
    stream.end(frame(body));
  });
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

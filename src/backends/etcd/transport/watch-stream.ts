/**
 * One Watch stream per client, multiplexing every watch of the adapter.
 *
 * etcd answers creates on a stream in the order they were sent, so each "created" answer is
 * matched to the oldest create still waiting for one; a create the server refuses (permission
 * denied) fails only that watch. When the stream breaks (connection lost, member failing, no
 * answer to a create in time), every watch is told it is restarting and is created again from
 * "now" on a fresh stream, on another member if this one failed: never resumed from a guessed
 * revision, so its owner re-reads the state it needs after the new `created`. Reconnects back
 * off from 25 ms to at most 500 ms, with jitter.
 * @module
 */
import { GrpcError, GrpcStatus, TransportError } from './grpc.js';
import { isRetryable, type Member, type MemberPool, type MemberStream } from './endpoints.js';
import { decodeWatch, encodeWatchCancel, encodeWatchCreate, Methods, type WatchEvent } from './messages.js';
import { timeoutAfterIo } from './after-io.js';

/** What a watch's owner hears. */
export interface WatchHandler {
  /** The watch is live: every change after `revision` will be delivered, in order. */
  created(revision: bigint): void;
  /** Changes, in revision order; `revision` is the server's revision when it sent them. */
  events(events: readonly WatchEvent[], revision: bigint): void;
  /** The watch stopped and is being created again from now: `created` follows when it is live. */
  restarting(why: unknown): void;
  /** The server refused this watch: it is over, nothing follows. */
  refused(error: GrpcError): void;
}

/** A watch as its owner holds it. */
export interface Watch {
  cancel(): void;
}

interface Entry extends Watch {
  readonly key: Buffer;
  readonly rangeEnd: Buffer;
  readonly handler: WatchHandler;
  id: bigint | undefined;
  cancelled: boolean;
}

const FIRST_BACKOFF_MS = 25;
const MAX_BACKOFF_MS = 500;

export class WatchStream {
  readonly #pool: MemberPool;
  readonly #entries = new Set<Entry>();
  #pending: Entry[] = [];
  readonly #byId = new Map<bigint, Entry>();
  #stream: MemberStream | undefined;
  #opening = false;
  #reopenTimer: NodeJS.Timeout | undefined;
  #createTimer: NodeJS.Timeout | undefined;
  #backoff = FIRST_BACKOFF_MS;
  #closed = false;
  readonly #stopListening: () => void;

  constructor(pool: MemberPool) {
    this.#pool = pool;
    this.#stopListening = pool.onSuspect((member) => this.#memberFailed(member));
  }

  /** Watches every key in `[key, rangeEnd)` from now on. */
  watch(key: Buffer, rangeEnd: Buffer, handler: WatchHandler): Watch {
    const entry: Entry = {
      key,
      rangeEnd,
      handler,
      id: undefined,
      cancelled: false,
      cancel: () => this.#cancel(entry),
    };
    this.#entries.add(entry);
    if (this.#stream) this.#create(entry);
    else this.#open();
    return entry;
  }

  #create(entry: Entry): void {
    const stream = this.#stream as MemberStream;
    this.#pending.push(entry);
    stream.write(encodeWatchCreate(entry.key, entry.rangeEnd));
    this.#armCreateTimer();
  }

  /** A create without an answer in time means the member is not serving: move elsewhere. */
  #armCreateTimer(): void {
    if (this.#createTimer) return;
    const stream = this.#stream;
    // Decided after reading the answers already received (see after-io.ts).
    const timer = timeoutAfterIo(() => {
      if (this.#createTimer !== timer) return;
      this.#createTimer = undefined;
      if (!stream || this.#stream !== stream || this.#pending.length === 0) return;
      this.#pool.failed(stream.member, new TransportError(`no answer to a watch from ${stream.endpoint}`, stream.endpoint, true, true));
      if (this.#stream === stream) this.#broken(stream, new TransportError(`no answer to a watch from ${stream.endpoint}`, stream.endpoint, true, true));
    }, this.#pool.attemptTimeoutMs);
    this.#createTimer = timer;
  }

  #cancel(entry: Entry): void {
    if (entry.cancelled) return;
    entry.cancelled = true;
    this.#entries.delete(entry);
    if (entry.id !== undefined) {
      this.#byId.delete(entry.id);
      this.#stream?.write(encodeWatchCancel(entry.id));
    }
    // A create still waiting for its answer is cancelled when the answer comes.
  }

  #open(): void {
    if (this.#opening || this.#stream || this.#closed || this.#reopenTimer) return;
    this.#opening = true;
    const member = this.#pool.pick() as Member;
    let stream: MemberStream | undefined;
    this.#pool
      .stream(
        Methods.watch,
        {
          onMessage: (message) => {
            if (stream && this.#stream === stream) this.#onMessage(stream, decodeWatch(message));
          },
          onClose: (error) => {
            if (stream && this.#stream === stream) this.#broken(stream, error ?? new TransportError(`the watch stream to ${stream.endpoint} ended`, stream.endpoint, true));
          },
        },
        member,
        { hasleader: 'true' },
      )
      .then(
        (opened) => {
          this.#opening = false;
          stream = opened;
          if (this.#closed) {
            opened.close();
            return;
          }
          this.#stream = opened;
          if (opened.closed) {
            this.#broken(opened, new TransportError(`the watch stream to ${opened.endpoint} ended at once`, opened.endpoint, true));
            return;
          }
          for (const entry of this.#entries) this.#create(entry);
        },
        (error: unknown) => {
          this.#opening = false;
          this.#pool.failed(member, error);
          this.#scheduleReopen();
        },
      );
  }

  #onMessage(stream: MemberStream, res: ReturnType<typeof decodeWatch>): void {
    if (res.created) {
      const entry = this.#pending.shift();
      clearTimeout(this.#createTimer);
      this.#createTimer = undefined;
      if (this.#pending.length > 0) this.#armCreateTimer();
      this.#backoff = FIRST_BACKOFF_MS;
      this.#pool.answered(stream.member);
      if (!entry) return;
      if (res.canceled) {
        if (/invalid auth token/i.test(res.cancelReason)) {
          // The stream's token expired: start over with a fresh one.
          this.#pool.invalidateToken(undefined);
          this.#pending.unshift(entry);
          this.#broken(stream, new GrpcError(GrpcStatus.UNAUTHENTICATED, res.cancelReason, stream.endpoint));
          return;
        }
        this.#entries.delete(entry);
        if (!entry.cancelled) {
          entry.cancelled = true;
          entry.handler.refused(new GrpcError(GrpcStatus.PERMISSION_DENIED, res.cancelReason || 'watch refused', stream.endpoint));
        }
        return;
      }
      if (entry.cancelled) {
        stream.write(encodeWatchCancel(res.watchId));
        return;
      }
      entry.id = res.watchId;
      this.#byId.set(res.watchId, entry);
      entry.handler.created(res.header.revision);
      return;
    }
    if (res.watchId === -1n) return; // a progress answer for the whole stream: not used
    const entry = this.#byId.get(res.watchId);
    if (!entry) return;
    if (res.canceled) {
      // The server ended this watch (a compaction, for instance): create it again from now.
      this.#byId.delete(res.watchId);
      entry.id = undefined;
      entry.handler.restarting(new GrpcError(GrpcStatus.UNKNOWN, res.cancelReason || 'watch cancelled by the server', stream.endpoint));
      if (!entry.cancelled && this.#entries.has(entry)) this.#create(entry);
      return;
    }
    if (res.events.length > 0) entry.handler.events(res.events, res.header.revision);
  }

  /** The stream broke: every watch restarts on a new stream, after a short backoff. */
  #broken(stream: MemberStream, why: unknown): void {
    if (this.#stream !== stream) return;
    this.#stream = undefined;
    stream.close();
    clearTimeout(this.#createTimer);
    this.#createTimer = undefined;
    this.#pending = [];
    this.#byId.clear();
    if (isRetryable(why)) this.#pool.failed(stream.member, why);
    for (const entry of [...this.#entries]) {
      entry.id = undefined;
      entry.handler.restarting(why);
    }
    this.#scheduleReopen();
  }

  #scheduleReopen(): void {
    if (this.#closed || this.#reopenTimer) return;
    const delay = this.#backoff / 2 + Math.random() * (this.#backoff / 2);
    this.#backoff = Math.min(this.#backoff * 2, MAX_BACKOFF_MS);
    this.#reopenTimer = setTimeout(() => {
      this.#reopenTimer = undefined;
      if (this.#entries.size > 0) this.#open();
    }, delay);
  }

  #memberFailed(member: Member): void {
    const stream = this.#stream;
    if (stream && stream.member === member) this.#broken(stream, new TransportError(`${member.endpoint} is failing`, member.endpoint, true));
  }

  close(): void {
    this.#closed = true;
    this.#stopListening();
    clearTimeout(this.#reopenTimer);
    clearTimeout(this.#createTimer);
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.close();
    this.#entries.clear();
    this.#pending = [];
    this.#byId.clear();
  }
}

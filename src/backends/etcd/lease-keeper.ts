/**
 * Keeps one etcd lease alive and decides, on the client's own clock, when it can no longer be
 * trusted.
 *
 * A keep-alive goes out every TTL/3 on a LeaseKeepAlive stream. Each answer moves a client-side
 * deadline: the leader renewed the lease after the answered request was SENT (keep-alives are
 * forwarded to it), so the lease cannot expire on the server before (that moment) + TTL, and the
 * deadline is a guard ahead of it (../loss-guard.ts). When the deadline passes without a newer
 * answer, the lease is declared lost: before the server could expire it, even when the timer runs
 * a little late. An answer with TTL <= 0 means the lease is gone (revoked, expired): lost at once.
 *
 * A keep-alive not answered within an attempt's deadline means the stream's member is not
 * serving (frozen, partitioned, no leader): the stream moves to another member at once and the
 * keep-alive is sent again there, long before the deadline.
 * @module
 */
import { lossDeadline } from '../loss-guard.js';
import { timeoutAfterIo } from './transport/after-io.js';
import { TransportError } from './transport/grpc.js';
import type { EtcdClient } from './transport/client.js';
import type { MemberStream } from './transport/endpoints.js';
import { decodeLease, encodeLeaseId } from './transport/messages.js';

/** Told when keep-alives stop being answered (with the epoch ms of the deadline) and when they are again. */
export interface ContactListener {
  contact(): void;
  outOfContact(lossAt: number): void;
}

const FIRST_REOPEN_MS = 25;
const MAX_REOPEN_MS = 500;

export class LeaseKeeper {
  readonly #client: EtcdClient;
  readonly #id: bigint;
  readonly #ttlMs: number;
  readonly #onLost: (why: string) => void;
  readonly #onContact: ContactListener | undefined;
  #stream: MemberStream | undefined;
  #opening = false;
  #sent: number[] = [];
  #interval: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #answerTimer: NodeJS.Timeout | undefined;
  #reopen: NodeJS.Timeout | undefined;
  #reopenDelay = FIRST_REOPEN_MS;
  #stopped = false;
  #probing: Promise<void> | undefined;
  readonly #stopListening: () => void;

  /** The lease check in flight, if any. */
  get probing(): Promise<void> | undefined {
    return this.#probing;
  }
  /** Monotonic time (performance.now()) at which the last answered keep-alive request was sent. */
  lastAnswered: number;

  /**
   * @param grantedAt when the grant request was sent: the first deadline counts from it.
   * @param ttlSeconds the TTL the client counts with (at most the server's).
   */
  constructor(client: EtcdClient, id: bigint, ttlSeconds: number, grantedAt: number, onLost: (why: string) => void, onContact?: ContactListener) {
    this.#client = client;
    this.#id = id;
    this.#ttlMs = ttlSeconds * 1000;
    this.#onLost = onLost;
    this.#onContact = onContact;
    this.lastAnswered = grantedAt;
    this.#stopListening = client.pool.onSuspect((member) => {
      if (this.#stream?.member === member) this.#broken();
    });
    this.#armDeadline();
    this.#open();
    this.#interval = setInterval(() => this.#send(), Math.max(50, this.#ttlMs / 3));
  }

  /** When the lease will be considered lost unless a keep-alive is answered (performance.now() time). */
  get deadline(): number {
    return lossDeadline(this.lastAnswered, this.#ttlMs);
  }

  #armDeadline(): void {
    clearTimeout(this.#deadline);
    const remaining = this.deadline - performance.now();
    // Decided after reading the answers already received (see after-io.ts): one may move it on.
    this.#deadline = timeoutAfterIo(() => {
      if (this.#stopped) return;
      if (this.deadline > performance.now()) this.#armDeadline();
      else this.#lose(`no keep-alive answered in time, and the lease's TTL of ${this.#ttlMs / 1000}s is running out: it could expire on the server`);
    }, Math.max(0, remaining));
  }

  #open(): void {
    if (this.#stopped || this.#opening || this.#stream) return;
    this.#opening = true;
    let stream: MemberStream | undefined;
    this.#client
      .keepAliveStream({
        onMessage: (message) => {
          if (stream && stream === this.#stream) this.#answered(decodeLease(message).ttl);
        },
        onClose: () => {
          if (stream && stream === this.#stream) this.#broken();
        },
      })
      .then(
        (opened) => {
          this.#opening = false;
          stream = opened;
          if (this.#stopped) {
            opened.close();
            return;
          }
          this.#stream = opened;
          this.#sent = [];
          if (opened.closed) this.#broken();
          else this.#send();
        },
        () => {
          this.#opening = false;
          this.#scheduleReopen();
        },
      );
  }

  /** The stream failed or its member stopped answering: open another (on another member). */
  #broken(): void {
    // Out of contact until a keep-alive is answered again: lost at the deadline.
    if (!this.#stopped) this.#onContact?.outOfContact(Date.now() + (this.deadline - performance.now()));
    const stream = this.#stream;
    this.#stream = undefined;
    clearTimeout(this.#answerTimer);
    this.#answerTimer = undefined;
    stream?.close();
    this.#scheduleReopen();
  }

  #scheduleReopen(): void {
    if (this.#stopped || this.#reopen) return;
    const delay = this.#reopenDelay / 2 + Math.random() * (this.#reopenDelay / 2);
    this.#reopenDelay = Math.min(this.#reopenDelay * 2, MAX_REOPEN_MS);
    this.#reopen = setTimeout(() => {
      this.#reopen = undefined;
      this.#open();
    }, delay);
  }

  #send(): void {
    const stream = this.#stream;
    if (!stream || this.#stopped) return;
    this.#sent.push(performance.now());
    stream.write(encodeLeaseId(this.#id));
    if (!this.#answerTimer) {
      // Decided after reading the answers already received (see after-io.ts): an answer clears
      // #answerTimer, and then this one is over.
      const timer = timeoutAfterIo(() => {
        if (this.#answerTimer !== timer) return;
        this.#answerTimer = undefined;
        if (this.#stream !== stream) return;
        this.#client.pool.failed(stream.member, new TransportError(`no keep-alive answer from ${stream.endpoint}`, stream.endpoint, true, true));
        if (this.#stream === stream) this.#broken();
      }, this.#client.pool.attemptTimeoutMs);
      this.#answerTimer = timer;
    }
  }

  #answered(ttl: bigint): void {
    const sentAt = this.#sent.shift();
    if (this.#stopped) return;
    clearTimeout(this.#answerTimer);
    this.#answerTimer = undefined;
    this.#reopenDelay = FIRST_REOPEN_MS;
    if (this.#stream) this.#client.pool.answered(this.#stream.member);
    if (ttl <= 0n) {
      this.#lose('etcd reports the lease gone (revoked or expired)');
      return;
    }
    if (sentAt !== undefined && sentAt > this.lastAnswered) {
      this.lastAnswered = sentAt;
      this.#armDeadline();
    }
    this.#onContact?.contact();
  }

  /**
   * Asks the server now whether the lease still exists (after one of its keys vanished without
   * this client deleting it, which is what a revoke looks like from here).
   */
  probe(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#probing ??= this.#client
      .leaseTimeToLive(this.#id, { budgetMs: this.#ttlMs })
      .then(
        (res) => {
          if (res.ttl <= 0n) this.#lose('etcd reports the lease gone (revoked or expired)');
        },
        () => {},
      )
      .finally(() => {
        this.#probing = undefined;
      });
    return this.#probing;
  }

  #lose(why: string): void {
    if (this.#stopped) return;
    this.stop();
    this.#onLost(why);
  }

  /** Stops sending keep-alives (the lease then expires on the server after its TTL unless revoked). */
  stop(): void {
    this.#stopped = true;
    this.#stopListening();
    clearInterval(this.#interval);
    clearTimeout(this.#deadline);
    clearTimeout(this.#reopen);
    clearTimeout(this.#answerTimer);
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.close();
  }
}

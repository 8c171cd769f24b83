/**
 * Keeps one etcd lease alive and decides, on the client's own clock, when it can no longer be
 * trusted.
 *
 * A keep-alive goes out every TTL/3 on one gRPC stream. Each answer moves a client-side deadline
 * to (time the answered request was SENT) + TTL: the server renewed the lease after that moment,
 * so the lease cannot expire on the server before the deadline. When the deadline passes without
 * a newer answer, the lease is declared lost, at the latest when the server could expire it.
 * (`etcd3`'s own `Lease` reports loss only after 2 x TTL without an answer: other clients may
 * have held the lock for a whole TTL by then.) An answer with TTL <= 0 means the lease is gone
 * (revoked, expired): lost at once.
 * @module
 */
import type { Etcd3, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, IDuplexStream } from 'etcd3';

const REOPEN_DELAY_MS = 100;

export class LeaseKeeper {
  readonly #client: Etcd3;
  readonly #id: string;
  readonly #ttlMs: number;
  readonly #onLost: (why: string) => void;
  #stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
  #sent: number[] = [];
  #interval: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #reopen: NodeJS.Timeout | undefined;
  #stopped = false;
  #probing: Promise<void> | undefined;

  /** The lease check in flight, if any. */
  get probing(): Promise<void> | undefined {
    return this.#probing;
  }
  /** Monotonic time (performance.now()) at which the last answered keep-alive request was sent. */
  lastAnswered: number;

  /**
   * @param grantedAt when the grant request was sent: the first deadline is that + TTL.
   * @param ttlSeconds the TTL the client counts with (at most the server's).
   */
  constructor(client: Etcd3, id: string, ttlSeconds: number, grantedAt: number, onLost: (why: string) => void) {
    this.#client = client;
    this.#id = id;
    this.#ttlMs = ttlSeconds * 1000;
    this.#onLost = onLost;
    this.lastAnswered = grantedAt;
    this.#armDeadline();
    this.#open();
    this.#interval = setInterval(() => this.#send(), Math.max(50, this.#ttlMs / 3));
  }

  #armDeadline(): void {
    clearTimeout(this.#deadline);
    const remaining = this.lastAnswered + this.#ttlMs - performance.now();
    this.#deadline = setTimeout(
      () => this.#lose(`no keep-alive answer from etcd for ${this.#ttlMs / 1000}s (the lease's TTL): it may have expired on the server`),
      Math.max(0, remaining),
    );
  }

  #open(): void {
    if (this.#stopped) return;
    this.#client.leaseClient.leaseKeepAlive().then(
      (stream) => {
        // Closing the client ends the stream with an error nobody needs to hear about.
        stream.on('error', () => {});
        if (this.#stopped) {
          stream.end();
          return;
        }
        this.#stream = stream;
        this.#sent = [];
        stream.on('data', (res: ILeaseKeepAliveResponse) => this.#answered(res));
        const broken = () => {
          if (this.#stream !== stream) return;
          this.#stream = undefined;
          this.#scheduleReopen();
        };
        stream.on('error', broken);
        stream.on('end', broken);
        this.#send();
      },
      () => this.#scheduleReopen(),
    );
  }

  #scheduleReopen(): void {
    if (this.#stopped || this.#reopen) return;
    this.#reopen = setTimeout(() => {
      this.#reopen = undefined;
      this.#open();
    }, REOPEN_DELAY_MS);
  }

  #send(): void {
    const stream = this.#stream;
    if (!stream || this.#stopped) return;
    this.#sent.push(performance.now());
    stream.write({ ID: this.#id });
  }

  #answered(res: ILeaseKeepAliveResponse): void {
    const sentAt = this.#sent.shift();
    if (this.#stopped) return;
    if (Number(res.TTL) <= 0) {
      this.#lose('etcd reports the lease gone (revoked or expired)');
      return;
    }
    if (sentAt !== undefined && sentAt > this.lastAnswered) {
      this.lastAnswered = sentAt;
      this.#armDeadline();
    }
  }

  /**
   * Asks the server now whether the lease still exists (after one of its keys vanished without
   * this client deleting it, which is what a revoke looks like from here).
   */
  probe(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#probing ??= this.#client.leaseClient
      .leaseTimeToLive({ ID: this.#id })
      .then(
        (res) => {
          if (Number(res.TTL) <= 0) this.#lose('etcd reports the lease gone (revoked or expired)');
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
    clearInterval(this.#interval);
    clearTimeout(this.#deadline);
    clearTimeout(this.#reopen);
    const stream = this.#stream;
    this.#stream = undefined;
    try {
      stream?.end();
    } catch {
      // already closed
    }
  }
}

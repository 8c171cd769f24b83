/**
 * One member of the cluster as the client sees it: its endpoint, its HTTP/2 session if open, and
 * what the client learnt of its health.
 * @module
 */
import type http2 from 'node:http2';

export class Member {
  readonly endpoint: string;
  readonly index: number;
  session: http2.ClientHttp2Session | undefined;
  /** performance.now() of the last answer from this member. */
  lastAnswer = 0;
  /** Until when (performance.now()) this member is avoided after a failure. */
  suspectUntil = 0;
  /** Open streams (watch, keep-alive) on this member's session: pings run while there are any. */
  streams = 0;
  /** The last connection-level failure (refused, TLS, protocol), to say why calls failed. */
  lastError: Error | undefined;
  /** When (performance.now()) the member was last probed for a TLS/plaintext mismatch. */
  probedAt = -Infinity;

  constructor(endpoint: string, index: number) {
    this.endpoint = endpoint;
    this.index = index;
  }

  get suspect(): boolean {
    return this.suspectUntil > performance.now();
  }
}

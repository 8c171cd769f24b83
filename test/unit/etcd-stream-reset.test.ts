/**
 * A member that resets a watch stream (RST_STREAM, as etcd does to the streams of a member that
 * lost its leader) makes the client give up on that member: the watch's failure drops the member's
 * HTTP/2 session and the lease keep-alive leaves it too. Two ways of doing that from inside the
 * reset stream's own close event sent Node's HTTP/2 layer into a loop that never returned (the
 * process stopped running its timers for good: fault-suite clients on etcd that never returned
 * from a call after a member was killed, and ignored the stop):
 *
 * - destroying the session synchronously while the keep-alive stream was open on it;
 * - closing the keep-alive stream (RST_STREAM, CANCEL) synchronously when the session had a write
 *   scheduled but not yet flushed at the moment the member's reset was read: Node runs the close
 *   event's handlers while nghttp2 is still handling the frames it read, and without the write
 *   pending it defers the reset itself, with one it calls nghttp2 to send from there
 *   (`submitRstStream` -> `SendPendingData` -> `CopyDataIntoOutgoing`, for ever). In the fault
 *   suite the pending write was a keep-alive sent in the same turn of the event loop.
 *
 * etcd resets streams only on its own schedule, so the member here is a plain HTTP/2 server on
 * loopback that accepts the client's streams and resets one on demand; the client is the adapter's
 * own transport (watch stream, lease keeper) in a child process, so that a process stuck in such a
 * loop is seen from outside and killed instead of freezing the test runner
 * (test/support/h2-member-child.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { clientAnswer, killClientChildren, pendingWrites, RESPONSIVE } from '../support/h2-member-child.js';

afterEach(killClientChildren);

describe('etcd transport: a member resets a stream', () => {
  it('the client process keeps running its timers when the watch stream is reset next to the keep-alive stream', async () => {
    expect(await clientAnswer('watch.close(http2.constants.NGHTTP2_CANCEL);')).toBe(RESPONSIVE);
  }, 20_000);

  it('the client process keeps running its timers when the reset arrives while a write of the client is still to be flushed', async () => {
    // The member's reset goes out in this turn; the client then writes on the same session (a
    // second watch created on the watch stream) after its own flush of this turn, so the write is
    // still scheduled when the client reads the reset in the next one.
    expect(await clientAnswer('watch.close(http2.constants.NGHTTP2_CANCEL);', pendingWrites.watchCreate)).toBe(RESPONSIVE);
  }, 20_000);
});

/**
 * A member that says GOAWAY, or whose connection goes, while the client has a write on the session
 * still to be flushed. Node's HTTP/2 layer tears the session down itself here, from inside the
 * callbacks of the frames it is reading: on a GOAWAY with an error code it destroys the session at
 * once, on a GOAWAY without one it closes it and destroys it when its last stream closes; streams
 * above the GOAWAY's last stream id are closed as refused. The client's own reaction (the watch
 * restarting, the member given up on, the keep-alive moving) runs there too. A reset or destroy
 * made from there with a write pending loops for ever in Node's send path (teardown.ts), so each
 * case checks that the client process keeps running its timers, and that it reaches the member
 * again afterwards.
 *
 * etcd sends GOAWAY ENHANCE_YOUR_CALM to a client that pings too often, and GOAWAY NO_ERROR
 * followed by the end of every stream when it stops; a killed member's connection just closes or
 * is reset. The member here is a plain HTTP/2 server doing those things on cue (see
 * test/support/h2-member-child.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { clientAnswer, killClientChildren, pendingWrites, RESPONSIVE } from '../support/h2-member-child.js';

afterEach(killClientChildren);

const MAX_STREAM_ID = 2 ** 31 - 1;

/** What the member does, run in the child with the member's ends of the client's streams in scope. */
const events: Record<string, string> = {
  // Node's client destroys the session inside the GOAWAY frame's callback.
  'GOAWAY ENHANCE_YOUR_CALM (too many pings)': `session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, ${MAX_STREAM_ID});`,
  'GOAWAY INTERNAL_ERROR below the open streams': 'session.goaway(http2.constants.NGHTTP2_INTERNAL_ERROR, 1);',
  // The watch (stream 1) stays; the keep-alive and the call are refused.
  'GOAWAY NO_ERROR below the open streams': 'session.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);',
  // A member stopping: GOAWAY, then each stream ended (the last one's close destroys the session).
  'GOAWAY NO_ERROR, then every stream reset with NO_ERROR': `
    session.goaway(http2.constants.NGHTTP2_NO_ERROR, ${MAX_STREAM_ID});
    for (const s of [watch, keepAlive, call]) s.close(http2.constants.NGHTTP2_NO_ERROR);`,
  // RST_STREAM on every stream, GOAWAY, then the connection closed.
  'the member destroys the session': 'session.destroy();',
  'the TCP connection is reset': 'for (const socket of sockets) socket.resetAndDestroy();',
  'the keep-alive stream is reset': 'keepAlive.close(http2.constants.NGHTTP2_CANCEL);',
  'the unanswered call is reset with REFUSED_STREAM': 'call.close(http2.constants.NGHTTP2_REFUSED_STREAM);',
};

describe('etcd transport: a member goes away while a write of the client is still to be flushed', () => {
  for (const [event, script] of Object.entries(events)) {
    for (const [write, pending] of Object.entries(pendingWrites)) {
      it(`${event}; pending: ${write}`, async () => {
        expect(await clientAnswer(script, pending)).toBe(RESPONSIVE);
      }, 20_000);
    }
  }
});

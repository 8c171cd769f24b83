/**
 * The one way the transport ends HTTP/2 streams and sessions: on a later turn of the event loop,
 * once, never from where the decision was made.
 *
 * Node runs a stream's event handlers, and the next-tick callbacks and promise continuations they
 * start, while nghttp2 is still handling the frames it has just read from the socket. Resetting a
 * stream (RST_STREAM) or destroying a session from there makes Node ask nghttp2 to send in the
 * middle of that receive whenever a write on the session was scheduled and not yet flushed, and
 * nghttp2 then hands out frames for ever: the process loops in `SendPendingData` ->
 * `CopyDataIntoOutgoing`, never runs a timer again and ignores every signal but SIGKILL (the live
 * lock of nodejs/node#52952). Any code of the transport can run there, even a timeout's or an
 * abort's (a continuation of the user's), so every reset and destroy goes through this module.
 * An immediate runs from the event loop itself, with no HTTP/2 frame on the stack.
 * @module
 */
import http2 from 'node:http2';

const scheduled = new WeakSet<http2.Http2Stream | http2.Http2Session>();

/** Resets `stream` with CANCEL on the next turn, unless it has ended by then; at most once. */
export function cancelStream(stream: http2.ClientHttp2Stream): void {
  if (scheduled.has(stream) || stream.closed || stream.destroyed) return;
  scheduled.add(stream);
  setImmediate(() => {
    if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
  });
}

/**
 * Destroys `session` on the next turn, after the stream resets scheduled before it; at most once.
 * Node then resets every stream still open on it and closes its socket.
 */
export function destroySession(session: http2.ClientHttp2Session): void {
  if (scheduled.has(session) || session.destroyed) return;
  scheduled.add(session);
  setImmediate(() => {
    if (!session.destroyed) session.destroy();
  });
}

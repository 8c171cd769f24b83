/**
 * The incoming side of a ZooKeeper connection: the bytes the server sends, split into answers
 * without copying them, and the answers to the adapter's own requests (./frames.ts) and the watch
 * notifications read here; the rest (the connect answer, pings, authentication, the answers to the
 * client's own requests) goes to node-zookeeper-client, one whole answer at a time.
 *
 * The client splits its socket's data itself, and after each answer copies the rest of the
 * network chunk into a new buffer, so a chunk of n small answers costs O(n²) bytes copied (300 to
 * 600 ms per MB for chunks of small answers, against 15 to 31 ms per MB one answer at a time), and
 * a large answer spread over k chunks is copied k times (issue 11). Here a chunk's answers are read
 * where they lie, and only an answer cut by a chunk's end is put together, once it is all in. The
 * client also keeps a cut answer across a reconnect, to be read as the start of the next
 * connection's first answer; here it is dropped with its connection.
 *
 * The client throws from its socket handler on an error code it does not know (SESSION_MOVED, for
 * one, answers a request that reached a server after the session moved to another), which would
 * crash the process. Such an answer drops the connection instead: the client reconnects and fails
 * what was pending with a connection loss, which callers already handle.
 * @module
 */
import zookeeper from 'node-zookeeper-client';
import { MalformedAnswer, type AnswerReader } from './frames.js';

/** The client's error objects (what codeOf recognises), made by its factory, untyped by the package. */
const Exception = zookeeper.Exception as unknown as { create(code: number): Error; readonly CONNECTION_LOSS: number };

/** The client's ConnectionManager.STATES.CONNECTING: its socket is up, the connect answer not read yet. */
const CONNECTING = 1;
const XID_NOTIFICATION = -1;
/** xid, zxid, err. */
const REPLY_HEADER_BYTES = 16;

/** A request waiting for its answer in the client's pending queue. */
interface PendingPacket {
  readonly request: { readonly header?: { readonly xid: number } | null; readonly readAnswer?: AnswerReader<unknown> };
  readonly callback?: (error: unknown, result?: unknown) => void;
}

/** What this module uses of the client's connection manager, untyped by the package. */
export interface AnsweringManager {
  socket?: { destroy(): void; destroyed?: boolean };
  state: number;
  /** The latest zxid the server told of: the client sends it when it reconnects. */
  zxid: Buffer;
  chrootPath?: string;
  pendingQueue: PendingPacket[];
  pendingBuffer: Buffer | null;
  watcherManager: { emit(event: { type: number; state: number; path: string }): void };
  onSocketData(buffer: Buffer): void;
}

/**
 * Takes over the reading of `manager`'s socket data. Installed before the client connects: the
 * client binds its handler to each new socket as it opens it.
 */
export function readAnswers(manager: AnsweringManager): void {
  const readByClient = manager.onSocketData;
  const zxid = new LastZxid(manager);
  /** The socket the bytes held below came from. */
  let heldFrom: unknown;
  /** The start of an answer cut by a chunk's end, and the chunks after it, not yet all of it. */
  let held: Buffer[] = [];
  let heldBytes = 0;
  /** The held answer's whole length (its length field included), once its length field is in. */
  let wanted = 0;

  manager.onSocketData = function (this: AnsweringManager, chunk: Buffer) {
    const socket = this.socket;
    if (socket !== heldFrom) {
      heldFrom = socket;
      held = [];
      heldBytes = 0;
    }
    let offset = 0;
    if (heldBytes > 0) {
      if (heldBytes < 4) {
        // The length field itself was cut: its 4 bytes first.
        if (heldBytes + chunk.length < 4) {
          held.push(chunk);
          heldBytes += chunk.length;
          return;
        }
        const length = Buffer.concat([...held, chunk.subarray(0, 4 - heldBytes)], 4);
        wanted = 4 + length.readInt32BE(0);
        if (wanted < 4) return drop(this);
      }
      const missing = wanted - heldBytes;
      if (chunk.length < missing) {
        held.push(chunk);
        heldBytes += chunk.length;
        return;
      }
      // Only the cut answer is put together; the rest of the chunk is read where it lies.
      held.push(chunk.subarray(0, missing));
      const answer = Buffer.concat(held, wanted);
      held = [];
      heldBytes = 0;
      try {
        readAnswer(this, readByClient, zxid, answer, 0, wanted);
      } catch {
        return drop(this);
      }
      if (this.socket !== socket || socket?.destroyed) return;
      offset = missing;
    }
    while (chunk.length - offset >= 4) {
      const end = offset + 4 + chunk.readInt32BE(offset);
      if (end < offset + 4) return drop(this);
      if (end > chunk.length) break;
      try {
        readAnswer(this, readByClient, zxid, chunk, offset, end);
      } catch {
        return drop(this);
      }
      offset = end;
      // Dropped by the answer's reader or by a callback: what follows is for no one.
      if (this.socket !== socket || socket?.destroyed) return;
    }
    if (offset < chunk.length) {
      const rest = chunk.subarray(offset);
      held = [rest];
      heldBytes = rest.length;
      wanted = rest.length >= 4 ? 4 + rest.readInt32BE(0) : 0;
    }
  };

  function drop(manager: AnsweringManager): void {
    held = [];
    heldBytes = 0;
    manager.pendingBuffer = null;
    manager.socket?.destroy();
  }
}

/** Reads the whole answer from `offset` (its length) to `end`. */
function readAnswer(manager: AnsweringManager, readByClient: (buffer: Buffer) => void, zxid: LastZxid, buffer: Buffer, offset: number, end: number): void {
  const start = offset + 4;
  if (manager.state === CONNECTING || end - start < REPLY_HEADER_BYTES) {
    // The connect answer has no reply header; the client also reads (and refuses) a short one.
    readByClient.call(manager, buffer.subarray(offset, end));
    return;
  }
  const xid = buffer.readInt32BE(start);
  if (xid === XID_NOTIFICATION && !manager.chrootPath) {
    readNotification(manager, buffer, start + REPLY_HEADER_BYTES, end);
    return;
  }
  const packet = manager.pendingQueue[0];
  const readOwn = packet?.request.readAnswer;
  if (xid < 0 || readOwn === undefined || packet!.request.header?.xid !== xid) {
    // A ping, an authentication answer, an answer to the client's own request, or one out of
    // order (the client drops the connection).
    readByClient.call(manager, buffer.subarray(offset, end));
    return;
  }
  manager.pendingQueue.shift();
  zxid.read(buffer, start + 4);
  const err = buffer.readInt32BE(start + 12);
  const callback = packet!.callback ?? (() => {});
  if (err !== 0) {
    const error = knownError(err);
    callback(error ?? Exception.create(Exception.CONNECTION_LOSS));
    if (error === undefined) throw new MalformedAnswer(`an answer with the unknown error code ${err}`);
    return;
  }
  let result: unknown;
  try {
    result = readOwn(buffer, start + REPLY_HEADER_BYTES, end);
  } catch (error) {
    callback(Exception.create(Exception.CONNECTION_LOSS));
    throw error;
  }
  callback(null, result);
}

/**
 * A watch notification: (type, state, path), handed to the client's watcher manager as its own
 * reading would be (the manager reads these three fields).
 */
function readNotification(manager: AnsweringManager, buffer: Buffer, start: number, end: number): void {
  if (start + 12 > end) throw new MalformedAnswer('a notification too short');
  const type = buffer.readInt32BE(start);
  const state = buffer.readInt32BE(start + 4);
  const length = buffer.readInt32BE(start + 8);
  if (length < 0 || start + 12 + length > end) throw new MalformedAnswer('a notification whose path does not fit');
  manager.watcherManager.emit({ type, state, path: pathAt(buffer, start + 12, length) });
}

/** The path of the last notification read (of any connection). */
let lastPath = '';

/**
 * The path of `length` bytes at `start`: the last notification's string again when the bytes are
 * the same (plain ASCII, as Baton's paths are). The client looks the path up as a key of its
 * watch objects, which a new string costs more than comparing a few dozen bytes, and an
 * uncontended loop on one lock is notified on its one parent every time.
 */
function pathAt(buffer: Buffer, start: number, length: number): string {
  if (length === lastPath.length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      const byte = buffer[start + i]!;
      if (byte >= 0x80 || byte !== lastPath.charCodeAt(i)) {
        same = false;
        break;
      }
    }
    if (same) return lastPath;
  }
  lastPath = buffer.toString('utf8', start, start + length);
  return lastPath;
}

/**
 * The manager's `zxid`, the latest the server told of, which the client sends when it reconnects
 * (and with the watches it sets again then): kept as two numbers as answers come, and made a
 * Buffer, as the client keeps it, only when the client reads it. Every answer carries one, and
 * an 8-byte Buffer per answer was most of what reading an answer allocated.
 */
class LastZxid {
  #high = 0;
  #low = 0;
  /** The Buffer last handed out or set by the client, undefined once an answer came after it. */
  #buffer: Buffer | undefined;

  constructor(manager: AnsweringManager) {
    this.#buffer = manager.zxid;
    Object.defineProperty(manager, 'zxid', {
      configurable: true,
      enumerable: true,
      get: () => (this.#buffer ??= this.#made()),
      // The client's own answers set it, as a Buffer of their own.
      set: (value: Buffer) => (this.#buffer = value),
    });
  }

  /** The zxid at `offset` of an answer. */
  read(buffer: Buffer, offset: number): void {
    this.#high = buffer.readInt32BE(offset);
    this.#low = buffer.readInt32BE(offset + 4);
    this.#buffer = undefined;
  }

  #made(): Buffer {
    const made = Buffer.alloc(8);
    made.writeInt32BE(this.#high, 0);
    made.writeInt32BE(this.#low, 4);
    return made;
  }
}

/** The client's error for `code`, or undefined for a code it does not know. */
function knownError(code: number): Error | undefined {
  try {
    return Exception.create(code);
  } catch {
    return undefined;
  }
}

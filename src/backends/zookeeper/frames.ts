/**
 * The adapter's own ZooKeeper requests on the wire: the requests it frames itself (sync, create2,
 * delete, getChildren2), and the reading of their answers, which ./answers.ts hands to them.
 *
 * node-zookeeper-client builds each request and reads each answer through its generic record
 * code (jute): a record object per request and per answer, its fields walked from a
 * specification, an 8-byte Buffer allocated for every long of a Stat whether read or not. An
 * uncontended acquire + release sends three of these requests and reads their answers, and that
 * generic work was a measurable part of its client time (issue 11). Here a request is written
 * straight into one frame, and an answer's fields are read where they lie, only those the caller
 * uses.
 * @module
 */
import type { ACL } from 'node-zookeeper-client';

export const SYNC_OPCODE = 9;
export const DELETE_OPCODE = 2;
/** ZooKeeper 3.5's create that answers with the new node's Stat (the client knows only `create`). */
export const CREATE2_OPCODE = 15;
/** getChildren2: the children and the parent's Stat, a child watch left if asked for. */
export const GET_CHILDREN2_OPCODE = 12;
/** getData: the node's data and Stat, a data watch left if asked for (the adapter sends it only to set a watch). */
export const GET_DATA_OPCODE = 4;

/**
 * The length of a Stat in its jute layout: czxid (first), mzxid, ctime, mtime, three versions,
 * ephemeralOwner, dataLength, numChildren, pzxid.
 */
const STAT_BYTES = 68;

/**
 * Reads the payload of a successful answer to the request, from `start` to `end` of `frame` (the
 * bytes after the reply header). Throws a {@link MalformedAnswer} when the bytes do not fit.
 */
export type AnswerReader<T> = (frame: Buffer, start: number, end: number) => T;

/**
 * A request framed here, for the client's queue: the queue sets `header.xid` before it calls
 * `toBuffer`, and sends the frame; ./answers.ts gives the answer to `readAnswer`, never to the
 * client's own decoding.
 */
export interface OwnRequest<T> {
  readonly header: { xid: number; type: number };
  readonly payload: null;
  toBuffer(): Buffer;
  readonly readAnswer: AnswerReader<T>;
}

/** An answer whose bytes do not have the layout its request calls for. */
export class MalformedAnswer extends Error {}

/**
 * A request of `opcode`: the frame's length, the xid, the opcode, then `bodyLength` bytes written
 * by `writeBody` from the offset it is given.
 */
export function framedRequest<T>(opcode: number, bodyLength: number, writeBody: (frame: Buffer, offset: number) => void, readAnswer: AnswerReader<T>): OwnRequest<T> {
  const header = { xid: 0, type: opcode };
  return {
    header,
    payload: null,
    toBuffer(): Buffer {
      const frame = Buffer.allocUnsafe(4 + 4 + 4 + bodyLength);
      let offset = frame.writeInt32BE(frame.length - 4, 0);
      offset = frame.writeInt32BE(header.xid, offset);
      offset = frame.writeInt32BE(opcode, offset);
      writeBody(frame, offset);
      return frame;
    },
    readAnswer,
  };
}

/** A path (a ustring) as a request body's first field: its length, then its bytes. */
export function writePath(frame: Buffer, offset: number, path: string, pathLength: number): number {
  offset = frame.writeInt32BE(pathLength, offset);
  return offset + frame.write(path, offset, 'utf8');
}

/** For answers with no payload the caller reads (delete's none; sync's echoed path). */
export const ignoreAnswer: AnswerReader<void> = () => undefined;

/**
 * A create2 answer: the created path (a ustring), then the node's Stat, of which only `czxid` (its
 * first field: the token) is read, copied out so that it does not keep the network chunk alive.
 */
export const readCreate2Answer: AnswerReader<{ path: string; stat: { czxid: Buffer } }> = (frame, start, end) => {
  const pathEnd = ustringEnd(frame, start, end);
  if (pathEnd + STAT_BYTES > end) throw new MalformedAnswer('a create2 answer too short for its Stat');
  const czxid = Buffer.allocUnsafe(8);
  frame.copy(czxid, 0, pathEnd, pathEnd + 8);
  return { path: frame.toString('utf8', start + 4, pathEnd), stat: { czxid } };
};

/** A getChildren2 answer: the children's names (a vector of ustrings); the parent's Stat after them is not read. */
export const readChildrenAnswer: AnswerReader<{ children: string[] }> = (frame, start, end) => {
  if (start + 4 > end) throw new MalformedAnswer('a listing answer too short for its count');
  const count = frame.readInt32BE(start);
  const children: string[] = [];
  let offset = start + 4;
  for (let i = 0; i < count; i++) {
    const nameEnd = ustringEnd(frame, offset, end);
    children.push(frame.toString('utf8', offset + 4, nameEnd));
    offset = nameEnd;
  }
  if (offset + STAT_BYTES > end) throw new MalformedAnswer('a listing answer too short for its Stat');
  return { children };
};

/** Where the ustring at `offset` (its int32 length, then its bytes) ends. */
function ustringEnd(frame: Buffer, offset: number, end: number): number {
  if (offset + 4 > end) throw new MalformedAnswer('an answer too short for a string length');
  const length = frame.readInt32BE(offset);
  // -1 is a null string, which none of these answers carries.
  if (length < 0 || offset + 4 + length > end) throw new MalformedAnswer(`a string of length ${length} that does not fit in its answer`);
  return offset + 4 + length;
}

/** The jute bytes of an ACL list (a vector of (perms, scheme, id)), made once per list. */
const aclBytesCache = new WeakMap<ACL[], Buffer>();
export function aclBytesOf(acl: ACL[]): Buffer {
  let bytes = aclBytesCache.get(acl);
  if (bytes === undefined) {
    const parts: Buffer[] = [int32(acl.length)];
    for (const entry of acl) {
      const { scheme, id } = entry.id;
      // The package's typings say `perms`; its objects carry `permission`.
      const perms = (entry as unknown as { permission?: number }).permission ?? entry.perms;
      parts.push(int32(perms), int32(Buffer.byteLength(scheme)), Buffer.from(scheme), int32(Buffer.byteLength(id)), Buffer.from(id));
    }
    bytes = Buffer.concat(parts);
    aclBytesCache.set(acl, bytes);
  }
  return bytes;
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value, 0);
  return buffer;
}

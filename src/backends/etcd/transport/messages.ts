/**
 * The etcd v3 messages this adapter uses, with etcd's field numbers (its wire protocol, from
 * `etcdserverpb/rpc.proto` and `mvccpb/kv.proto`): encoders for requests and decoders for
 * responses. Fields the adapter never reads are skipped; 64-bit integers are `bigint`.
 * @module
 */
import { ProtoReader, ProtoWriter, VarintMemo } from './codec.js';

/** gRPC method paths. */
export const Methods = {
  range: '/etcdserverpb.KV/Range',
  put: '/etcdserverpb.KV/Put',
  deleteRange: '/etcdserverpb.KV/DeleteRange',
  txn: '/etcdserverpb.KV/Txn',
  watch: '/etcdserverpb.Watch/Watch',
  leaseGrant: '/etcdserverpb.Lease/LeaseGrant',
  leaseRevoke: '/etcdserverpb.Lease/LeaseRevoke',
  leaseKeepAlive: '/etcdserverpb.Lease/LeaseKeepAlive',
  leaseTimeToLive: '/etcdserverpb.Lease/LeaseTimeToLive',
  authenticate: '/etcdserverpb.Auth/Authenticate',
  status: '/etcdserverpb.Maintenance/Status',
} as const;

// ---- shared ---------------------------------------------------------------------------------

/** ResponseHeader: cluster_id 1, member_id 2, revision 3, raft_term 4. */
export interface Header {
  /** Which cluster answered: coordinators of one process on one cluster share what they wrote (../process-writes.ts). */
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly revision: bigint;
  readonly raftTerm: bigint;
}

const NO_HEADER: Header = { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };

/** The cluster and member ids last read: the same in nearly every header (see uint64Memo). */
const CLUSTER_ID = new VarintMemo();
const MEMBER_ID = new VarintMemo();

function readHeader(r: ProtoReader): Header {
  let clusterId = 0n;
  let memberId = 0n;
  let revision = 0n;
  let raftTerm = 0n;
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) clusterId = r.uint64Memo(CLUSTER_ID);
    else if (f === 2) memberId = r.uint64Memo(MEMBER_ID);
    else if (f === 3) revision = r.int64();
    else if (f === 4) raftTerm = r.int64();
    else r.skip();
  }
  return { clusterId, memberId, revision, raftTerm };
}

/** mvccpb.KeyValue: key 1, create_revision 2, mod_revision 3, version 4, value 5, lease 6. */
export interface KeyValue {
  readonly key: Buffer;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  readonly version: bigint;
  readonly value: Buffer;
  readonly lease: bigint;
}

const EMPTY: Buffer = Buffer.alloc(0);

function readKeyValue(r: ProtoReader): KeyValue {
  let key = EMPTY;
  let value = EMPTY;
  let createRevision = 0n;
  let modRevision = 0n;
  let version = 0n;
  let lease = 0n;
  for (let f = r.next(); f !== 0; f = r.next()) {
    switch (f) {
      case 1:
        key = r.bytes();
        break;
      case 2:
        createRevision = r.int64();
        break;
      case 3:
        modRevision = r.int64();
        break;
      case 4:
        version = r.int64();
        break;
      case 5:
        value = r.bytes();
        break;
      case 6:
        lease = r.int64();
        break;
      default:
        r.skip();
    }
  }
  return { key, createRevision, modRevision, version, value, lease };
}

// ---- KV ---------------------------------------------------------------------------------------

/**
 * RangeRequest: key 1, range_end 2, limit 3, revision 4, sort_order 5, sort_target 6,
 * serializable 7, keys_only 8, count_only 9, max_create_revision 13.
 */
export interface RangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly limit?: number;
  readonly revision?: bigint;
  /** Sorted by create revision, oldest or newest first: with `limit`, the first or last keys created. */
  readonly sortByCreate?: 'ascend' | 'descend';
  readonly serializable?: boolean;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  /** Only keys created at or before this revision. */
  readonly maxCreateRevision?: bigint;
}

/** etcd's SortOrder (ASCEND 1, DESCEND 2) and SortTarget CREATE (2). */
const SORT_ORDER = { ascend: 1, descend: 2 } as const;
const SORT_TARGET_CREATE = 2;

export function encodeRange(req: RangeRequest): Buffer {
  return writeRange(new ProtoWriter(), req).finish();
}

function writeRange(w: ProtoWriter, req: RangeRequest): ProtoWriter {
  return w
    .bytes(1, req.key)
    .bytes(2, req.rangeEnd)
    .int(3, req.limit)
    .int(4, req.revision)
    .int(5, req.sortByCreate && SORT_ORDER[req.sortByCreate])
    .int(6, req.sortByCreate && SORT_TARGET_CREATE)
    .bool(7, req.serializable)
    .bool(8, req.keysOnly)
    .bool(9, req.countOnly)
    .int(13, req.maxCreateRevision);
}

/** RangeResponse: header 1, kvs 2, more 3, count 4. */
export interface RangeResponse {
  readonly header: Header;
  readonly kvs: KeyValue[];
  readonly count: bigint;
}

export function decodeRange(r: ProtoReader): RangeResponse {
  let header = NO_HEADER;
  const kvs: KeyValue[] = [];
  let count = 0n;
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) header = readHeader(r.message());
    else if (f === 2) kvs.push(readKeyValue(r.message()));
    else if (f === 4) count = r.int64();
    else r.skip();
  }
  return { header, kvs, count };
}

/** PutRequest: key 1, value 2, lease 3, prev_kv 4, ignore_value 5, ignore_lease 6. */
export interface PutRequest {
  readonly key: Uint8Array;
  readonly value: Uint8Array | string;
  readonly lease?: bigint;
  readonly ignoreLease?: boolean;
}

export function encodePut(req: PutRequest): Buffer {
  return writePut(new ProtoWriter(), req).finish();
}

function writePut(w: ProtoWriter, req: PutRequest): ProtoWriter {
  return w.bytes(1, req.key).bytes(2, req.value).int(3, req.lease).bool(6, req.ignoreLease);
}

/** DeleteRangeRequest: key 1, range_end 2, prev_kv 3. */
export interface DeleteRangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
}

export function encodeDeleteRange(req: DeleteRangeRequest): Buffer {
  return writeDeleteRange(new ProtoWriter(), req).finish();
}

function writeDeleteRange(w: ProtoWriter, req: DeleteRangeRequest): ProtoWriter {
  return w.bytes(1, req.key).bytes(2, req.rangeEnd);
}

/** PutResponse / DeleteRangeResponse: header 1 (DeleteRange: deleted 2). */
export interface WriteResponse {
  readonly header: Header;
  /** Keys deleted (DeleteRange only). */
  readonly deleted: bigint;
}

export function decodeWrite(r: ProtoReader): WriteResponse {
  let header = NO_HEADER;
  let deleted = 0n;
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) header = readHeader(r.message());
    else if (f === 2) deleted = r.int64();
    else r.skip();
  }
  return { header, deleted };
}

/**
 * Compare: result 1 (EQUAL 0, GREATER 1, LESS 2, NOT_EQUAL 3), target 2 (VERSION 0, CREATE 1,
 * MOD 2, VALUE 3, LEASE 4), key 3, then the value for the target: version 4, create_revision 5,
 * mod_revision 6, value 7, lease 8.
 */
export interface Compare {
  readonly key: Uint8Array;
  readonly target: 'version' | 'create' | 'mod' | 'value' | 'lease';
  readonly result: 'equal' | 'greater' | 'less' | 'notEqual';
  readonly value: bigint | Uint8Array | string;
}

const RESULTS = { equal: 0, greater: 1, less: 2, notEqual: 3 } as const;
const TARGETS = { version: 0, create: 1, mod: 2, value: 3, lease: 4 } as const;
const TARGET_FIELDS = { version: 4, create: 5, mod: 6, value: 7, lease: 8 } as const;

function writeCompare(w: ProtoWriter, c: Compare): void {
  w.int(1, RESULTS[c.result]).int(2, TARGETS[c.target]).bytes(3, c.key);
  const field = TARGET_FIELDS[c.target];
  if (typeof c.value === 'bigint') {
    // A oneof member is written even when zero, so the server knows which one is set.
    w.intAlways(field, c.value);
  } else {
    w.message(field, typeof c.value === 'string' ? Buffer.from(c.value) : c.value);
  }
}

/** RequestOp: request_range 1, request_put 2, request_delete_range 3. */
export type RequestOp = { readonly range: RangeRequest } | { readonly put: PutRequest } | { readonly deleteRange: DeleteRangeRequest };

/** A RequestOp, as field `field` of the message being written, in place. */
function writeRequestOp(w: ProtoWriter, field: number, op: RequestOp): void {
  const outer = w.begin(field);
  if ('range' in op) {
    const inner = w.begin(1);
    writeRange(w, op.range).end(inner);
  } else if ('put' in op) {
    const inner = w.begin(2);
    writePut(w, op.put).end(inner);
  } else {
    const inner = w.begin(3);
    writeDeleteRange(w, op.deleteRange).end(inner);
  }
  w.end(outer);
}

/** TxnRequest: compare 1, success 2, failure 3. */
export interface TxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly RequestOp[];
  readonly failure?: readonly RequestOp[];
}

export function encodeTxn(req: TxnRequest): Buffer {
  return writeTxn(new ProtoWriter(128), req).finish();
}

/** Every field written in place: one buffer for the whole transaction. */
function writeTxn(w: ProtoWriter, req: TxnRequest): ProtoWriter {
  for (const c of req.compare) {
    const mark = w.begin(1);
    writeCompare(w, c);
    w.end(mark);
  }
  for (const op of req.success) writeRequestOp(w, 2, op);
  if (req.failure) for (const op of req.failure) writeRequestOp(w, 3, op);
  return w;
}

// ---- framed requests (what the client sends) --------------------------------------------------

/** A request ready for the wire: encoded with its gRPC prefix, in one buffer. */
export const framedRange = (req: RangeRequest): Buffer => writeRange(new ProtoWriter(64, true), req).finishFramed();
export const framedPut = (req: PutRequest): Buffer => writePut(new ProtoWriter(64, true), req).finishFramed();
export const framedDeleteRange = (req: DeleteRangeRequest): Buffer => writeDeleteRange(new ProtoWriter(64, true), req).finishFramed();
export const framedTxn = (req: TxnRequest): Buffer => writeTxn(new ProtoWriter(128, true), req).finishFramed();
export const framedLeaseGrant = (ttl: number): Buffer => new ProtoWriter(16, true).int(1, ttl).finishFramed();
export const framedLeaseId = (id: bigint): Buffer => new ProtoWriter(16, true).int(1, id).finishFramed();
export const framedAuthenticate = (name: string, password: string): Buffer => new ProtoWriter(64, true).bytes(1, name).bytes(2, password).finishFramed();
/** An empty message (StatusRequest). */
export const framedEmpty = (): Buffer => new ProtoWriter(0, true).finishFramed();

/** ResponseOp: response_range 1, response_put 2, response_delete_range 3. */
export type ResponseOp =
  | { readonly kind: 'range'; readonly range: RangeResponse }
  | { readonly kind: 'put' }
  | { readonly kind: 'deleteRange'; readonly deleted: bigint };

/** TxnResponse: header 1, succeeded 2, responses 3. */
export interface TxnResponse {
  readonly header: Header;
  readonly succeeded: boolean;
  readonly responses: ResponseOp[];
}

function readResponseOp(r: ProtoReader): ResponseOp {
  let op: ResponseOp = { kind: 'put' };
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) op = { kind: 'range', range: decodeRange(r.message()) };
    else if (f === 2) op = (r.skip(), { kind: 'put' });
    else if (f === 3) op = { kind: 'deleteRange', deleted: decodeWrite(r.message()).deleted };
    else r.skip();
  }
  return op;
}

export function decodeTxn(r: ProtoReader): TxnResponse {
  let header = NO_HEADER;
  let succeeded = false;
  const responses: ResponseOp[] = [];
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) header = readHeader(r.message());
    else if (f === 2) succeeded = r.bool();
    else if (f === 3) responses.push(readResponseOp(r.message()));
    else r.skip();
  }
  return { header, succeeded, responses };
}

// ---- Lease ------------------------------------------------------------------------------------

/** LeaseGrantRequest: TTL 1, ID 2. */
export function encodeLeaseGrant(ttl: number): Buffer {
  return new ProtoWriter().int(1, ttl).finish();
}

/** LeaseRevokeRequest / LeaseKeepAliveRequest / LeaseTimeToLiveRequest: ID 1. */
export function encodeLeaseId(id: bigint): Buffer {
  return new ProtoWriter().int(1, id).finish();
}

/** LeaseGrantResponse (header 1, ID 2, TTL 3, error 4), LeaseKeepAliveResponse and LeaseTimeToLiveResponse (header 1, ID 2, TTL 3). */
export interface LeaseResponse {
  readonly header: Header;
  readonly id: bigint;
  readonly ttl: bigint;
  readonly error: string;
}

export function decodeLease(r: ProtoReader, grant = false): LeaseResponse {
  let header = NO_HEADER;
  let id = 0n;
  let ttl = 0n;
  let error = '';
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) header = readHeader(r.message());
    else if (f === 2) id = r.int64();
    else if (f === 3) ttl = r.int64();
    else if (f === 4 && grant) error = r.string();
    else r.skip();
  }
  return { header, id, ttl, error };
}

/** LeaseGrantResponse, with its error field. */
export const decodeLeaseGrant = (r: ProtoReader): LeaseResponse => decodeLease(r, true);

/** Any response of which only the header matters (LeaseRevoke, Put). */
export function decodeHeaderOnly(r: ProtoReader): { header: Header } {
  let header = NO_HEADER;
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) header = readHeader(r.message());
    else r.skip();
  }
  return { header };
}

// ---- Auth, Maintenance ------------------------------------------------------------------------

/** AuthenticateRequest: name 1, password 2. */
export function encodeAuthenticate(name: string, password: string): Buffer {
  return new ProtoWriter().bytes(1, name).bytes(2, password).finish();
}

/** AuthenticateResponse: header 1, token 2. */
export function decodeAuthenticate(r: ProtoReader): { token: string } {
  let token = '';
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 2) token = r.string();
    else r.skip();
  }
  return { token };
}

/** StatusResponse: header 1, version 2, dbSize 3, leader 4, raftIndex 5, raftTerm 6. */
export interface StatusResponse {
  readonly header: Header;
  readonly version: string;
  readonly leader: bigint;
}

export function decodeStatus(r: ProtoReader): StatusResponse {
  let header = NO_HEADER;
  let version = '';
  let leader = 0n;
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) header = readHeader(r.message());
    else if (f === 2) version = r.string();
    else if (f === 4) leader = r.int64();
    else r.skip();
  }
  return { header, version, leader };
}

// ---- Watch ------------------------------------------------------------------------------------

/**
 * WatchRequest: create_request 1, cancel_request 2, progress_request 3.
 * WatchCreateRequest: key 1, range_end 2, start_revision 3, progress_notify 4, prev_kv 6.
 */
export function encodeWatchCreate(key: Uint8Array, rangeEnd: Uint8Array, startRevision = 0n): Buffer {
  const create = new ProtoWriter().bytes(1, key).bytes(2, rangeEnd).int(3, startRevision).finish();
  return new ProtoWriter().message(1, create).finish();
}

/** WatchCancelRequest: watch_id 1. */
export function encodeWatchCancel(watchId: bigint): Buffer {
  return new ProtoWriter().message(2, new ProtoWriter().int(1, watchId).finish()).finish();
}

/** WatchProgressRequest: no fields. */
export function encodeWatchProgress(): Buffer {
  return new ProtoWriter().message(3, EMPTY).finish();
}

/** mvccpb.Event: type 1 (PUT 0, DELETE 1), kv 2, prev_kv 3. */
export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly kv: KeyValue;
}

/**
 * WatchResponse: header 1, watch_id 2, created 3, canceled 4, compact_revision 5,
 * cancel_reason 6, fragment 7, events 11.
 */
export interface WatchResponse {
  readonly header: Header;
  readonly watchId: bigint;
  readonly created: boolean;
  readonly canceled: boolean;
  readonly compactRevision: bigint;
  readonly cancelReason: string;
  readonly events: WatchEvent[];
}

function readEvent(r: ProtoReader): WatchEvent {
  let type: 'put' | 'delete' = 'put';
  let kv: KeyValue | undefined;
  for (let f = r.next(); f !== 0; f = r.next()) {
    if (f === 1) type = r.uint() === 1 ? 'delete' : 'put';
    else if (f === 2) kv = readKeyValue(r.message());
    else r.skip();
  }
  return { type, kv: kv ?? readKeyValue(new ProtoReader(EMPTY)) };
}

export function decodeWatch(r: ProtoReader): WatchResponse {
  let header = NO_HEADER;
  let watchId = 0n;
  let created = false;
  let canceled = false;
  let compactRevision = 0n;
  let cancelReason = '';
  const events: WatchEvent[] = [];
  for (let f = r.next(); f !== 0; f = r.next()) {
    switch (f) {
      case 1:
        header = readHeader(r.message());
        break;
      case 2:
        watchId = r.int64();
        break;
      case 3:
        created = r.bool();
        break;
      case 4:
        canceled = r.bool();
        break;
      case 5:
        compactRevision = r.int64();
        break;
      case 6:
        cancelReason = r.string();
        break;
      case 11:
        events.push(readEvent(r.message()));
        break;
      default:
        r.skip();
    }
  }
  return { header, watchId, created, canceled, compactRevision, cancelReason, events };
}

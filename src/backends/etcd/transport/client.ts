/**
 * The etcd client the adapter uses: typed unary calls over the {@link MemberPool}, the one
 * {@link WatchStream}, and LeaseKeepAlive streams. Nothing here knows about locks.
 * @module
 */
import { type CallOptions, MemberPool, type MemberStream, type PoolOptions } from './endpoints.js';
import { frame, type StreamHandlers } from './grpc.js';
import {
  decodeHeaderOnly,
  decodeLease,
  decodeLeaseGrant,
  decodeRange,
  decodeStatus,
  decodeTxn,
  decodeWrite,
  type DeleteRangeRequest,
  framedDeleteRange,
  framedEmpty,
  framedLeaseGrant,
  framedLeaseId,
  framedPut,
  framedRange,
  framedTxn,
  type Header,
  type LeaseResponse,
  Methods,
  type PutRequest,
  type RangeRequest,
  type RangeResponse,
  type StatusResponse,
  type TxnRequest,
  type TxnResponse,
  type WriteResponse,
} from './messages.js';
import { WatchStream } from './watch-stream.js';

export class EtcdClient {
  readonly pool: MemberPool;
  readonly watches: WatchStream;

  constructor(options: PoolOptions) {
    this.pool = new MemberPool(options);
    this.watches = new WatchStream(this.pool);
  }

  // Each call is one promise: the answer is decoded by the call itself (unary-call.ts).

  range(req: RangeRequest, options: CallOptions = NO_OPTIONS): Promise<RangeResponse> {
    return this.pool.call(Methods.range, framedRange(req), options, decodeRange);
  }

  put(req: PutRequest, options: CallOptions = NO_OPTIONS): Promise<WriteResponse> {
    return this.pool.call(Methods.put, framedPut(req), options, decodeWrite);
  }

  deleteRange(req: DeleteRangeRequest, options: CallOptions = NO_OPTIONS): Promise<WriteResponse> {
    return this.pool.call(Methods.deleteRange, framedDeleteRange(req), options, decodeWrite);
  }

  txn(req: TxnRequest, options: CallOptions = NO_OPTIONS): Promise<TxnResponse> {
    return this.pool.call(Methods.txn, framedTxn(req), options, decodeTxn);
  }

  /** A transaction already encoded with {@link encodeTxn} (framed here, with a copy). */
  txnEncoded(body: Buffer, options: CallOptions = NO_OPTIONS): Promise<TxnResponse> {
    return this.pool.call(Methods.txn, frame(body), options, decodeTxn);
  }

  /**
   * A transaction already encoded and framed (see `framedTxn`): a caller that sends the same one
   * again and again keeps these bytes, and they go to the stream as they are.
   */
  txnFramed(framedBody: Buffer, options: CallOptions = NO_OPTIONS): Promise<TxnResponse> {
    return this.pool.call(Methods.txn, framedBody, options, decodeTxn);
  }

  leaseGrant(ttlSeconds: number, options: CallOptions = NO_OPTIONS): Promise<LeaseResponse> {
    return this.pool.call(Methods.leaseGrant, framedLeaseGrant(ttlSeconds), options, decodeLeaseGrant);
  }

  leaseRevoke(id: bigint, options: CallOptions = NO_OPTIONS): Promise<{ header: Header }> {
    return this.pool.call(Methods.leaseRevoke, framedLeaseId(id), options, decodeHeaderOnly);
  }

  leaseTimeToLive(id: bigint, options: CallOptions = NO_OPTIONS): Promise<LeaseResponse> {
    return this.pool.call(Methods.leaseTimeToLive, framedLeaseId(id), options, decodeLease);
  }

  status(options: CallOptions = NO_OPTIONS): Promise<StatusResponse> {
    return this.pool.call(Methods.status, framedEmpty(), options, decodeStatus);
  }

  /** Opens a LeaseKeepAlive stream on the preferred member. */
  keepAliveStream(handlers: StreamHandlers): Promise<MemberStream> {
    return this.pool.stream(Methods.leaseKeepAlive, handlers);
  }

  close(): void {
    this.watches.close();
    this.pool.close();
  }
}

const NO_OPTIONS: CallOptions = {};

/**
 * The etcd client the adapter uses: typed unary calls over the {@link MemberPool}, the one
 * {@link WatchStream}, and LeaseKeepAlive streams. Nothing here knows about locks.
 * @module
 */
import { type CallOptions, MemberPool, type MemberStream, type PoolOptions } from './endpoints.js';
import type { StreamHandlers } from './grpc.js';
import {
  decodeHeaderOnly,
  decodeLease,
  decodeRange,
  decodeStatus,
  decodeTxn,
  decodeWrite,
  type DeleteRangeRequest,
  encodeDeleteRange,
  encodeLeaseGrant,
  encodeLeaseId,
  encodePut,
  encodeRange,
  encodeTxn,
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

  async range(req: RangeRequest, options?: CallOptions): Promise<RangeResponse> {
    return decodeRange(await this.pool.call(Methods.range, encodeRange(req), options));
  }

  async put(req: PutRequest, options?: CallOptions): Promise<WriteResponse> {
    return decodeWrite(await this.pool.call(Methods.put, encodePut(req), options));
  }

  async deleteRange(req: DeleteRangeRequest, options?: CallOptions): Promise<WriteResponse> {
    return decodeWrite(await this.pool.call(Methods.deleteRange, encodeDeleteRange(req), options));
  }

  async txn(req: TxnRequest, options?: CallOptions): Promise<TxnResponse> {
    return decodeTxn(await this.pool.call(Methods.txn, encodeTxn(req), options));
  }

  /** A transaction already encoded with {@link encodeTxn} (a caller that sends the same one again and again keeps the bytes). */
  async txnEncoded(body: Buffer, options?: CallOptions): Promise<TxnResponse> {
    return decodeTxn(await this.pool.call(Methods.txn, body, options));
  }

  async leaseGrant(ttlSeconds: number, options?: CallOptions): Promise<LeaseResponse> {
    return decodeLease(await this.pool.call(Methods.leaseGrant, encodeLeaseGrant(ttlSeconds), options), true);
  }

  async leaseRevoke(id: bigint, options?: CallOptions): Promise<{ header: Header }> {
    return decodeHeaderOnly(await this.pool.call(Methods.leaseRevoke, encodeLeaseId(id), options));
  }

  async leaseTimeToLive(id: bigint, options?: CallOptions): Promise<LeaseResponse> {
    return decodeLease(await this.pool.call(Methods.leaseTimeToLive, encodeLeaseId(id), options));
  }

  async status(options?: CallOptions): Promise<StatusResponse> {
    return decodeStatus(await this.pool.call(Methods.status, Buffer.alloc(0), options));
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

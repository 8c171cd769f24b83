/**
 * The etcd transport's protobuf codec and messages, without a server: varints at their
 * boundaries, every request the adapter encodes read back field by field against etcd's field
 * numbers (rpc.proto, kv.proto), every response it decodes built field by field and read back,
 * unknown fields of every wire type skipped, and truncated or malformed input rejected with a
 * clear error. (Every etcd integration test exercises the same code against a real etcd.)
 */
import { describe, expect, it } from 'vitest';
import { ProtoReader, ProtoWriter, VarintMemo } from '../../src/backends/etcd/transport/codec.js';
import {
  decodeAuthenticate,
  decodeHeaderOnly,
  decodeLease,
  decodeRange,
  decodeStatus,
  decodeTxn,
  decodeWatch,
  decodeWrite,
  encodeAuthenticate,
  encodeDeleteRange,
  encodeLeaseGrant,
  encodeLeaseId,
  encodePut,
  encodeRange,
  encodeTxn,
  encodeWatchCancel,
  encodeWatchCreate,
  encodeWatchProgress,
  framedTxn,
} from '../../src/backends/etcd/transport/messages.js';

type Fields = Map<number, (bigint | Buffer)[]>;

/**
 * Every field of a message as raw values: the fields named in `lengthFields` as bytes, the
 * others as varints (bigint). The wire type is not exposed: etcd's schema says which is which.
 */
function read(buffer: Buffer, lengthFields: number[]): Fields {
  const r = new ProtoReader(buffer);
  const fields: Fields = new Map();
  for (let f = r.next(); f !== 0; f = r.next()) {
    const value = lengthFields.includes(f) ? r.bytes() : r.int64();
    fields.set(f, [...(fields.get(f) ?? []), value]);
  }
  return fields;
}
const one = (fields: Fields, n: number) => fields.get(n)?.[0];

const header = (revision: bigint) => new ProtoWriter().int(1, 0x1234n).int(2, 0xfedcba9876543210n).int(3, revision).int(4, 7n).finish();
const kv = (key: string, create: bigint, mod: bigint, lease = 0n, value = '') =>
  new ProtoWriter().bytes(1, key).int(2, create).int(3, mod).int(4, 1n).bytes(5, value).int(6, lease).finish();

/** A field of each wire type, with field numbers no etcd message read here uses. */
function unknownFields(): Buffer {
  const fixed64 = Buffer.concat([Buffer.from([(15 << 3) | 1]), Buffer.alloc(8, 0xab)]);
  const fixed32 = Buffer.concat([Buffer.from([(14 << 3) | 5]), Buffer.alloc(4, 0xcd)]);
  const varint = new ProtoWriter().int(13, -1n).finish();
  const bytes = new ProtoWriter().bytes(2047, 'ignored').finish();
  return Buffer.concat([fixed64, fixed32, varint, bytes]);
}

describe('etcd protobuf codec: varints', () => {
  const cases: [string, number | bigint, number][] = [
    ['1', 1, 1],
    ['127', 127, 1],
    ['128', 128, 2],
    ['16383', 16383, 2],
    ['16384', 16384, 3],
    ['2^31 - 1', 2 ** 31 - 1, 5],
    ['2^31', 2 ** 31, 5],
    ['2^32', 2 ** 32, 5],
    ['2^53 - 1', Number.MAX_SAFE_INTEGER, 8],
    ['2^53 (bigint)', 2n ** 53n, 8],
    ['2^63 - 1 (bigint revision)', 2n ** 63n - 1n, 9],
    ['-1 (int64)', -1n, 10],
    ['-2^63 (int64)', -(2n ** 63n), 10],
  ];
  for (const [label, value, bytes] of cases) {
    it(`${label} takes ${bytes} bytes and reads back exactly`, () => {
      const encoded = new ProtoWriter().int(1, value).finish();
      expect(encoded.length).toBe(1 + bytes);
      const r = new ProtoReader(encoded);
      expect(r.next()).toBe(1);
      expect(r.int64()).toBe(BigInt(value));
      expect(r.next()).toBe(0);
    });
  }

  it('every bit of a 64-bit varint reads back in place, across the boundaries of the parts it is read in', () => {
    // Long varints are gathered in parts of 28, 28 and 14 bits: a bit set on either side of each
    // joint, all bits below it, and fixed pseudo-random patterns, signed and unsigned.
    const values: bigint[] = [];
    for (let bit = 0n; bit < 64n; bit++) values.push(1n << bit, (1n << bit) - 1n, (1n << bit) | 1n);
    let x = 0x9e3779b97f4a7c15n;
    for (let i = 0; i < 200; i++) {
      x = BigInt.asUintN(64, x * 6364136223846793005n + 1442695040888963407n);
      values.push(x);
    }
    for (const value of values) {
      const signed = BigInt.asIntN(64, value);
      const r = new ProtoReader(new ProtoWriter().intAlways(1, signed).finish());
      expect(r.next()).toBe(1);
      expect(r.int64()).toBe(signed);
    }
  });

  it('0 is the default and is not written, except as a oneof member', () => {
    expect(new ProtoWriter().int(1, 0).int(2, 0n).finish().length).toBe(0);
    const r = new ProtoReader(new ProtoWriter().intAlways(5, 0n).finish());
    expect(r.next()).toBe(5);
    expect(r.int64()).toBe(0n);
  });

  it('a lease id above 2^63 (unsigned in the header) reads back as the same unsigned value', () => {
    const decoded = decodeHeaderOnly(new ProtoReader(new ProtoWriter().message(1, header(5n)).finish()));
    expect(decoded.header).toEqual({ clusterId: 0x1234n, memberId: 0xfedcba9876543210n, revision: 5n, raftTerm: 7n });
  });

  it('a remembered uint64 (cluster and member ids) reads right when it changes, repeats, or shares a prefix with the last one', () => {
    const memo = new VarintMemo();
    const values = [0xfedcba9876543210n, 0xfedcba9876543210n, 0x1234n, 0xfedcba9876543211n, 0xfedcba9876543210n, 0n, 2n ** 64n - 1n, 0x1234n, 0x1234n];
    const message = values.reduce((w, v) => w.intAlways(1, v), new ProtoWriter()).finish();
    const r = new ProtoReader(message);
    const read: bigint[] = [];
    while (r.next() !== 0) read.push(r.uint64Memo(memo));
    expect(read).toEqual(values);
    // A varint cut by the message's end is refused, even when the bytes past the end would match.
    const whole = new ProtoWriter().intAlways(1, 0xfedcba9876543210n).finish();
    const full = new ProtoReader(whole);
    full.next();
    expect(full.uint64Memo(memo)).toBe(0xfedcba9876543210n);
    const cut = new ProtoReader(whole, 0, whole.length - 1);
    expect(cut.next()).toBe(1);
    expect(() => cut.uint64Memo(memo)).toThrow(/truncated/);
  });

  it('a number that is not an exact integer is refused with the field, not encoded (Infinity used to loop for ever)', () => {
    for (const bad of [Infinity, -Infinity, NaN, 1.5, 2 ** 53]) {
      expect(() => new ProtoWriter().int(4, bad), String(bad)).toThrow(/protobuf field 4: .* is not an integer/);
    }
    // The largest exact integers still go.
    expect(new ProtoReader(new ProtoWriter().int(4, 2 ** 53 - 1).finish()).next()).toBe(4);
  });

  it('small varints read as numbers (tags, lengths, enums)', () => {
    const r = new ProtoReader(new ProtoWriter().int(3, 300).int(2047, 1).finish());
    expect(r.next()).toBe(3);
    expect(r.uint()).toBe(300);
    expect(r.next()).toBe(2047);
    expect(r.bool()).toBe(true);
  });
});

describe('etcd protobuf codec: requests carry etcd field numbers', () => {
  const key = Buffer.from('ns/name/');
  const end = Buffer.from('ns/name0');

  it('RangeRequest: key 1, range_end 2, limit 3, revision 4, serializable 7, keys_only 8, count_only 9', () => {
    const f = read(encodeRange({ key, rangeEnd: end, limit: 1, revision: 2n ** 40n, serializable: true, keysOnly: true, countOnly: true }), [1, 2]);
    expect(one(f, 1)).toEqual(key);
    expect(one(f, 2)).toEqual(end);
    expect([one(f, 3), one(f, 4), one(f, 7), one(f, 8), one(f, 9)]).toEqual([1n, 2n ** 40n, 1n, 1n, 1n]);
    expect(read(encodeRange({ key }), [1, 2])).toEqual(new Map([[1, [key]]]));
  });

  it('PutRequest: key 1, value 2, lease 3, ignore_lease 6', () => {
    const lease = 0x7e5d4c3b2a190817n;
    const f = read(encodePut({ key, value: 'v', lease, ignoreLease: true }), [1, 2]);
    expect([one(f, 1), one(f, 2), one(f, 3), one(f, 6)]).toEqual([key, Buffer.from('v'), lease, 1n]);
  });

  it('DeleteRangeRequest: key 1, range_end 2', () => {
    const f = read(encodeDeleteRange({ key, rangeEnd: end }), [1, 2]);
    expect([one(f, 1), one(f, 2)]).toEqual([key, end]);
  });

  it('TxnRequest: compare 1, success 2, failure 3; each Compare target with its own value field', () => {
    const txn = encodeTxn({
      compare: [
        { key, target: 'create', result: 'equal', value: 0n },
        { key, target: 'mod', result: 'less', value: 2n ** 33n },
        { key, target: 'version', result: 'greater', value: 3n },
        { key, target: 'lease', result: 'notEqual', value: 0x1234n },
        { key, target: 'value', result: 'equal', value: 'x' },
      ],
      success: [{ put: { key, value: '', lease: 5n } }, { range: { key, rangeEnd: end } }],
      failure: [{ deleteRange: { key } }],
    });
    const f = read(txn, [1, 2, 3]);
    expect(f.get(1)).toHaveLength(5);
    const compares = (f.get(1) as Buffer[]).map((c) => read(c, [3, 7]));
    // result 1, target 2, key 3, then version 4 / create_revision 5 / mod_revision 6 / value 7 / lease 8
    expect(compares.map((c) => [one(c, 1) ?? 0n, one(c, 2) ?? 0n, one(c, 3)])).toEqual([
      [0n, 1n, key],
      [2n, 2n, key],
      [1n, 0n, key],
      [3n, 4n, key],
      [0n, 3n, key],
    ]);
    // A zero create_revision is written: it is a oneof member.
    expect([one(compares[0]!, 5), one(compares[1]!, 6), one(compares[2]!, 4), one(compares[3]!, 8), one(compares[4]!, 7)]).toEqual([
      0n,
      2n ** 33n,
      3n,
      0x1234n,
      Buffer.from('x'),
    ]);
    // RequestOp: request_range 1, request_put 2, request_delete_range 3.
    const success = (f.get(2) as Buffer[]).map((op) => read(op, [1, 2, 3]));
    expect([...success[0]!.keys()]).toEqual([2]);
    expect([...success[1]!.keys()]).toEqual([1]);
    expect(one(read(one(success[0]!, 2) as Buffer, [1, 2]), 3)).toBe(5n);
    const failure = read((f.get(3) as Buffer[])[0]!, [3]);
    expect(one(read(one(failure, 3) as Buffer, [1]), 1)).toEqual(key);
  });

  it('a nested message written in place has the same bytes as one built apart, at every length of its length varint', () => {
    // Lengths of 1, 2 and 3 varint bytes for the nested messages: the in-place writer keeps one
    // byte for the length and moves the message up when it needs more.
    for (const size of [0, 1, 100, 127, 128, 200, 16_383, 16_384, 70_000]) {
      const long = Buffer.alloc(size, 0x61);
      const req = { compare: [{ key: long, target: 'create' as const, result: 'equal' as const, value: 7n }], success: [{ put: { key: long, value: 'v', lease: 3n } }], failure: [{ range: { key } }] };
      const apart = (write: (w: ProtoWriter) => ProtoWriter) => write(new ProtoWriter()).finish();
      const compare = apart((w) => w.int(2, 1).bytes(3, long).intAlways(5, 7n));
      const put = apart((w) => w.bytes(1, long).bytes(2, 'v').int(3, 3n));
      const range = apart((w) => w.bytes(1, key));
      const expected = apart((w) => w.message(1, compare).message(2, apart((o) => o.message(2, put))).message(3, apart((o) => o.message(1, range))));
      expect(encodeTxn(req)).toEqual(expected);
      // Framed: the gRPC prefix (not compressed, the length big-endian), then the same bytes.
      const framed = framedTxn(req);
      expect(framed[0]).toBe(0);
      expect(framed.readUInt32BE(1)).toBe(expected.length);
      expect(framed.subarray(5)).toEqual(expected);
    }
  });

  it('a string field is written as its UTF-8 bytes, whatever their count', () => {
    for (const value of ['', 'x', 'é', '日本', 'a'.repeat(300)]) {
      const f = read(encodePut({ key, value }), [1, 2]);
      expect(one(f, 2) ?? Buffer.alloc(0)).toEqual(Buffer.from(value));
    }
  });

  it('LeaseGrant (TTL 1), LeaseRevoke/KeepAlive/TimeToLive (ID 1), Authenticate (name 1, password 2)', () => {
    expect(read(encodeLeaseGrant(10), [])).toEqual(new Map([[1, [10n]]]));
    expect(read(encodeLeaseId(0x694d7a1b2c3d4e5fn), [])).toEqual(new Map([[1, [0x694d7a1b2c3d4e5fn]]]));
    expect(read(encodeAuthenticate('alice', 'pw'), [1, 2])).toEqual(new Map([[1, [Buffer.from('alice')]], [2, [Buffer.from('pw')]]]));
  });

  it('WatchRequest: create 1 (key 1, range_end 2, start_revision 3), cancel 2 (watch_id 1), progress 3', () => {
    const create = read(encodeWatchCreate(key, end, 42n), [1]);
    const inner = read(one(create, 1) as Buffer, [1, 2]);
    expect([one(inner, 1), one(inner, 2), one(inner, 3)]).toEqual([key, end, 42n]);
    expect(read(one(read(encodeWatchCreate(key, Buffer.alloc(0)), [1]), 1) as Buffer, [1, 2])).toEqual(new Map([[1, [key]]]));
    const cancel = read(encodeWatchCancel(9n), [2]);
    expect(read(one(cancel, 2) as Buffer, [])).toEqual(new Map([[1, [9n]]]));
    // Present even though empty: the oneof says which request it is.
    expect(read(encodeWatchProgress(), [3])).toEqual(new Map([[3, [Buffer.alloc(0)]]]));
  });
});

describe('etcd protobuf codec: responses', () => {
  const big = 2n ** 62n + 5n;
  const rangeResponse = () =>
    new ProtoWriter()
      .message(1, header(big))
      .message(2, kv('a/1', 3n, 4n, 0x7fn, 'one'))
      .message(2, kv('a/2', big, big))
      .bool(3, true)
      .int(4, 2n)
      .finish();

  it('RangeResponse: header, kvs in order with every field, count', () => {
    const res = decodeRange(new ProtoReader(rangeResponse()));
    expect(res.header).toEqual({ clusterId: 0x1234n, memberId: 0xfedcba9876543210n, revision: big, raftTerm: 7n });
    expect(res.count).toBe(2n);
    expect(res.kvs.map((k) => [k.key.toString(), k.createRevision, k.modRevision, k.version, k.value.toString(), k.lease])).toEqual([
      ['a/1', 3n, 4n, 1n, 'one', 0x7fn],
      ['a/2', big, big, 1n, '', 0n],
    ]);
  });

  it('Put and DeleteRange responses: header, deleted', () => {
    const res = decodeWrite(new ProtoReader(new ProtoWriter().message(1, header(9n)).int(2, 3n).finish()));
    expect([res.header.revision, res.deleted]).toEqual([9n, 3n]);
  });

  it('TxnResponse: header, succeeded, each ResponseOp of its kind', () => {
    const range = new ProtoWriter().message(1, header(8n)).message(2, kv('k', 8n, 8n)).finish();
    const put = new ProtoWriter().message(1, header(8n)).finish();
    const del = new ProtoWriter().message(1, header(8n)).int(2, 1n).finish();
    const txn = new ProtoWriter()
      .message(1, header(8n))
      .bool(2, true)
      .message(3, new ProtoWriter().message(2, put).finish())
      .message(3, new ProtoWriter().message(1, range).finish())
      .message(3, new ProtoWriter().message(3, del).finish())
      .finish();
    const res = decodeTxn(new ProtoReader(txn));
    expect(res.succeeded).toBe(true);
    expect(res.header.revision).toBe(8n);
    expect(res.responses.map((r) => r.kind)).toEqual(['put', 'range', 'deleteRange']);
    const [, r, d] = res.responses;
    expect(r?.kind === 'range' && r.range.kvs[0]?.key.toString()).toBe('k');
    expect(d?.kind === 'deleteRange' && d.deleted).toBe(1n);
    expect(decodeTxn(new ProtoReader(new ProtoWriter().message(1, header(8n)).finish())).succeeded).toBe(false);
  });

  it('Lease responses: ID, TTL, and the grant error; a lease id of 2^63 - 1', () => {
    const id = 2n ** 63n - 1n;
    const body = new ProtoWriter().message(1, header(1n)).int(2, id).int(3, 10n).bytes(4, 'lease exists').finish();
    expect(decodeLease(new ProtoReader(body), true)).toMatchObject({ id, ttl: 10n, error: 'lease exists' });
    // Not a grant: field 4 is something else and is skipped.
    expect(decodeLease(new ProtoReader(body))).toMatchObject({ id, ttl: 10n, error: '' });
    // An expired lease answers TTL -1.
    expect(decodeLease(new ProtoReader(new ProtoWriter().int(2, id).int(3, -1n).finish())).ttl).toBe(-1n);
  });

  it('Authenticate and Status responses', () => {
    expect(decodeAuthenticate(new ProtoReader(new ProtoWriter().message(1, header(1n)).bytes(2, 'tok.en').finish()))).toEqual({ token: 'tok.en' });
    const status = new ProtoWriter().message(1, header(3n)).bytes(2, '3.4.30').int(3, 4096n).int(4, 0xabcdef0123456789n).int(5, 7n).int(6, 2n).finish();
    expect(decodeStatus(new ProtoReader(status))).toMatchObject({ version: '3.4.30', leader: BigInt.asIntN(64, 0xabcdef0123456789n) });
  });

  it('WatchResponse: created, canceled with reason, compact revision, put and delete events', () => {
    const created = new ProtoWriter().message(1, header(20n)).int(2, 0n).bool(3, true).finish();
    expect(decodeWatch(new ProtoReader(created))).toMatchObject({ watchId: 0n, created: true, canceled: false, events: [] });
    const canceled = new ProtoWriter().message(1, header(20n)).int(2, 4n).bool(4, true).int(5, 15n).bytes(6, 'compacted').finish();
    expect(decodeWatch(new ProtoReader(canceled))).toMatchObject({ watchId: 4n, canceled: true, compactRevision: 15n, cancelReason: 'compacted' });
    const events = new ProtoWriter()
      .message(1, header(22n))
      .int(2, 4n)
      .message(11, new ProtoWriter().message(2, kv('p/a', 21n, 21n, 0x10n)).finish())
      .message(11, new ProtoWriter().int(1, 1).message(2, new ProtoWriter().bytes(1, 'p/b').int(3, 22n).finish()).finish())
      .finish();
    const res = decodeWatch(new ProtoReader(events));
    expect(res.events.map((e) => [e.type, e.kv.key.toString(), e.kv.modRevision, e.kv.lease])).toEqual([
      ['put', 'p/a', 21n, 0x10n],
      ['delete', 'p/b', 22n, 0n],
    ]);
    // The progress answer for the whole stream has watch id -1.
    expect(decodeWatch(new ProtoReader(new ProtoWriter().int(2, -1n).finish())).watchId).toBe(-1n);
  });

  it('skips unknown fields of every wire type, at the top and inside nested messages', () => {
    const noise = unknownFields();
    const withNoise = Buffer.concat([
      noise,
      new ProtoWriter().message(1, Buffer.concat([noise, header(big)])).finish(),
      noise,
      new ProtoWriter().message(2, Buffer.concat([kv('a/1', 3n, 4n, 0x7fn, 'one'), noise])).finish(),
      new ProtoWriter().message(2, kv('a/2', big, big)).bool(3, true).int(4, 2n).finish(),
      noise,
    ]);
    expect(decodeRange(new ProtoReader(withNoise))).toEqual(decodeRange(new ProtoReader(rangeResponse())));
  });
});

describe('etcd protobuf codec: truncated and malformed input', () => {
  it('a message cut anywhere inside a field is rejected as truncated, never read as something else', () => {
    // Built field by field, so the boundaries between top-level fields are known.
    const fields = [
      new ProtoWriter().message(1, header(2n ** 40n)).finish(),
      new ProtoWriter().message(2, kv('queue/a', 2n ** 40n, 2n ** 40n + 1n, 0x694d7a1b2c3d4e5fn, 'value')).finish(),
      new ProtoWriter().int(4, 2n ** 35n).finish(),
      Buffer.concat([Buffer.from([(15 << 3) | 1]), Buffer.alloc(8, 1)]),
      Buffer.concat([Buffer.from([(14 << 3) | 5]), Buffer.alloc(4, 1)]),
    ];
    const whole = Buffer.concat(fields);
    const boundaries = new Set<number>([0]);
    fields.reduce((at, field) => (boundaries.add(at + field.length), at + field.length), 0);
    let rejected = 0;
    for (let cut = 1; cut < whole.length; cut++) {
      const decode = () => decodeRange(new ProtoReader(whole.subarray(0, cut)));
      if (boundaries.has(cut)) {
        // A cut between fields is a shorter message (gRPC's length prefix guards against that).
        expect(decode).not.toThrow();
      } else {
        expect(decode, `cut at ${cut} of ${whole.length}`).toThrow(/^truncated protobuf (varint|field|message)$/);
        rejected++;
      }
    }
    // Every cut but the four between the five fields (0 and the whole length are not cuts).
    expect(rejected).toBe(whole.length - 1 - 4);
  });

  it('a varint longer than 10 bytes, field number 0 and an unknown wire type are rejected', () => {
    const overlong = Buffer.concat([Buffer.from([(2 << 3) | 0]), Buffer.alloc(10, 0xff), Buffer.from([0x01])]);
    expect(() => decodeWrite(new ProtoReader(overlong))).toThrow(/malformed protobuf varint: longer than 10 bytes/);
    const overlongSkipped = Buffer.concat([Buffer.from([(9 << 3) | 0]), Buffer.alloc(11, 0x80), Buffer.from([0x01])]);
    expect(() => decodeWrite(new ProtoReader(overlongSkipped))).toThrow(/malformed protobuf varint/);
    expect(() => decodeWrite(new ProtoReader(Buffer.from([0x00, 0x01])))).toThrow(/field number 0/);
    expect(() => decodeWrite(new ProtoReader(Buffer.from([(9 << 3) | 3])))).toThrow(/unsupported protobuf wire type 3/);
  });
});

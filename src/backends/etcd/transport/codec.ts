/**
 * A small protocol-buffers codec: just the wire types etcd's messages use (varint and
 * length-delimited), written for the handful of messages this adapter sends and reads.
 *
 * Why our own and not a protobuf library: the adapter uses about twenty messages and a few
 * fields of each; a writer and a reader of two wire types are ~150 lines, need no code
 * generation or schema files at run time, and let every 64-bit field (revisions, lease ids) be a
 * `bigint` without a detour through strings. See docs/etcd.md.
 * @module
 */

const VARINT = 0;
const LENGTH_DELIMITED = 2;
const FIXED64 = 1;
const FIXED32 = 5;
/** A 64-bit varint takes at most 10 bytes. */
const MAX_VARINT_BYTES = 10;

/** The gRPC message prefix: a flag byte (0: not compressed) and a 4-byte big-endian length. */
const GRPC_PREFIX_BYTES = 5;

/**
 * Builds one message in one buffer: a nested message is written in place between {@link begin}
 * and {@link end} (or built by a nested writer and added as bytes with {@link message}). A writer
 * made `framed` leaves room for the gRPC prefix and {@link finishFramed} fills it in, so a request
 * goes to the stream as encoded, with no copy and no buffer per nested message.
 */
export class ProtoWriter {
  #buffer: Buffer;
  #length: number;

  constructor(capacity = 64, framed = false) {
    this.#length = framed ? GRPC_PREFIX_BYTES : 0;
    this.#buffer = Buffer.allocUnsafe(capacity + this.#length);
  }

  #reserve(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buffer.length * 2, this.#length + bytes));
    this.#buffer.copy(grown, 0, 0, this.#length);
    this.#buffer = grown;
  }

  #rawVarint(value: number): void {
    this.#reserve(10);
    while (value > 0x7f) {
      this.#buffer[this.#length++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.#buffer[this.#length++] = value;
  }

  #rawVarint64(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    if (v <= 0x1fffffffffffffn) {
      this.#rawVarint(Number(v));
      return;
    }
    this.#reserve(10);
    while (v > 0x7fn) {
      this.#buffer[this.#length++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buffer[this.#length++] = Number(v);
  }

  #tag(field: number, wireType: number): void {
    this.#rawVarint((field << 3) | wireType);
  }

  /** An unsigned or int64 field; zero (the default) is not written. */
  int(field: number, value: number | bigint | undefined): this {
    if (value === undefined || value === 0 || value === 0n) return this;
    // A number that is not an exact integer has no varint: Infinity would never leave the loop
    // in #rawVarint (the process would stop running), a fraction or NaN would be sent as another
    // value. Refused with the field's number, so the bug that made it shows where it came from.
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new RangeError(`protobuf field ${field}: ${value} is not an integer between -(2^53 - 1) and 2^53 - 1`);
    }
    this.#tag(field, VARINT);
    if (typeof value === 'bigint') this.#rawVarint64(value);
    else if (value < 0) this.#rawVarint64(BigInt(value));
    else this.#rawVarint(value);
    return this;
  }

  /** An int64 field written even when zero (a oneof member). */
  intAlways(field: number, value: bigint): this {
    this.#tag(field, VARINT);
    this.#rawVarint64(value);
    return this;
  }

  bool(field: number, value: boolean | undefined): this {
    return value ? this.int(field, 1) : this;
  }

  /** A bytes/string/message field; an empty value is not written (proto3 default). */
  bytes(field: number, value: Uint8Array | string | undefined): this {
    if (value === undefined) return this;
    if (typeof value === 'string') {
      // Written in place: no Buffer made for the string.
      const length = Buffer.byteLength(value);
      if (length === 0) return this;
      this.#tag(field, LENGTH_DELIMITED);
      this.#rawVarint(length);
      this.#reserve(length);
      this.#length += this.#buffer.write(value, this.#length, length);
      return this;
    }
    if (value.length === 0) return this;
    this.#tag(field, LENGTH_DELIMITED);
    this.#rawVarint(value.length);
    this.#reserve(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
    return this;
  }

  /**
   * Starts a nested message field written in place (always written, even when empty, as a oneof
   * member must be); its fields follow, then {@link end} with the mark returned here. One byte is
   * kept for the length, enough below 128 bytes; a longer message is moved up to make room.
   */
  begin(field: number): number {
    this.#tag(field, LENGTH_DELIMITED);
    this.#reserve(1);
    return this.#length++;
  }

  /** Ends the nested message started at `mark` by {@link begin}: writes its length. */
  end(mark: number): this {
    const length = this.#length - mark - 1;
    if (length < 0x80) {
      this.#buffer[mark] = length;
      return this;
    }
    let bytes = 1;
    for (let rest = length; rest > 0x7f; rest = Math.floor(rest / 128)) bytes++;
    this.#reserve(bytes - 1);
    this.#buffer.copyWithin(mark + bytes, mark + 1, this.#length);
    this.#length += bytes - 1;
    let at = mark;
    let value = length;
    while (value > 0x7f) {
      this.#buffer[at++] = (value & 0x7f) | 0x80;
      value = Math.floor(value / 128);
    }
    this.#buffer[at] = value;
    return this;
  }

  /** A nested message field, written even when empty (a oneof member must be present). */
  message(field: number, value: Uint8Array): this {
    this.#tag(field, LENGTH_DELIMITED);
    this.#rawVarint(value.length);
    this.#reserve(value.length);
    this.#buffer.set(value, this.#length);
    this.#length += value.length;
    return this;
  }

  finish(): Buffer {
    return this.#buffer.subarray(0, this.#length);
  }

  /** The message with its gRPC prefix, from a writer made `framed`. */
  finishFramed(): Buffer {
    const buffer = this.#buffer;
    buffer[0] = 0;
    buffer.writeUInt32BE(this.#length - GRPC_PREFIX_BYTES, 1);
    return buffer.subarray(0, this.#length);
  }
}

/** The last value a {@link ProtoReader.uint64Memo} read, with its bytes. */
export class VarintMemo {
  readonly bytes = Buffer.alloc(MAX_VARINT_BYTES);
  length = 0;
  value = 0n;
}

/**
 * Reads one message field by field: `next()` returns the next field number (0 at the end), then
 * exactly one of the value readers (or `skip()`) consumes its value.
 */
export class ProtoReader {
  readonly #buffer: Buffer;
  #offset: number;
  readonly #end: number;
  #wireType = 0;

  constructor(buffer: Buffer, start = 0, end = buffer.length) {
    this.#buffer = buffer;
    this.#offset = start;
    this.#end = end;
  }

  /** The next field's number, or 0 when the message is exhausted. */
  next(): number {
    if (this.#offset >= this.#end) return 0;
    const tag = this.#varintNumber();
    this.#wireType = tag % 8;
    const field = Math.floor(tag / 8);
    // Field 0 does not exist: reading it as "the end" would drop the rest of the message.
    if (field === 0) throw new Error('malformed protobuf: field number 0');
    return field;
  }

  #varintNumber(): number {
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.#offset >= this.#end) throw new Error('truncated protobuf varint');
      const byte = this.#buffer[this.#offset++] as number;
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) return result;
      multiplier *= 128;
    }
    throw new Error(`malformed protobuf varint: longer than ${MAX_VARINT_BYTES} bytes`);
  }

  /** A varint as a bigint, interpreted as a signed 64-bit integer (int64). */
  int64(): bigint {
    const start = this.#offset;
    let small = 0;
    let multiplier = 1;
    // Up to 7 bytes (49 bits) fit a double exactly: the common case (revisions, counts).
    for (let i = 0; i < 7; i++) {
      if (this.#offset >= this.#end) throw new Error('truncated protobuf varint');
      const byte = this.#buffer[this.#offset++] as number;
      small += (byte & 0x7f) * multiplier;
      if (byte < 0x80) return BigInt(small);
      multiplier *= 128;
    }
    // Longer (member ids, lease ids: random 64-bit numbers, in every response header and every
    // leased key): gathered in three small numbers of 28, 28 and 14 bits, joined as bigints
    // once. Building the bigint a byte at a time cost more than the rest of a watch event.
    this.#offset = start;
    let low = 0;
    let middle = 0;
    let high = 0;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.#offset >= this.#end) throw new Error('truncated protobuf varint');
      const byte = this.#buffer[this.#offset++] as number;
      const bits = byte & 0x7f;
      if (i < 4) low |= bits << (7 * i);
      else if (i < 8) middle |= bits << (7 * (i - 4));
      else high |= bits << (7 * (i - 8));
      if (byte < 0x80) return BigInt.asIntN(64, BigInt(low) | (BigInt(middle) << 28n) | (BigInt(high) << 56n));
    }
    throw new Error(`malformed protobuf varint: longer than ${MAX_VARINT_BYTES} bytes`);
  }

  /**
   * An unsigned 64-bit varint (uint64) that is mostly the same value again and again (the
   * cluster and member ids in every response header): when its bytes are those `memo` saw last,
   * the bigint decoded then is returned, with no bigint arithmetic and no allocation.
   */
  uint64Memo(memo: VarintMemo): bigint {
    const buffer = this.#buffer;
    const start = this.#offset;
    const limit = Math.min(this.#end, start + MAX_VARINT_BYTES);
    let last = start;
    while (last < limit && (buffer[last] as number) >= 0x80) last++;
    // The varint's last byte is inside the message: compare its bytes with the memo's.
    if (last < limit) {
      const length = last - start + 1;
      if (length === memo.length && buffer.compare(memo.bytes, 0, length, start, start + length) === 0) {
        this.#offset = start + length;
        return memo.value;
      }
    }
    // Decoded (and checked: truncated or too long, it throws), then remembered.
    const value = BigInt.asUintN(64, this.int64());
    buffer.copy(memo.bytes, 0, start, this.#offset);
    memo.length = this.#offset - start;
    memo.value = value;
    return value;
  }

  /** A varint that fits a double (enums, booleans, small counts). */
  uint(): number {
    return this.#varintNumber();
  }

  bool(): boolean {
    return this.#varintNumber() !== 0;
  }

  /** A length-delimited field's bytes (a view into the frame, not a copy). */
  bytes(): Buffer {
    const length = this.#varintNumber();
    const start = this.#offset;
    this.#offset += length;
    if (this.#offset > this.#end) throw new Error('truncated protobuf field');
    return this.#buffer.subarray(start, this.#offset);
  }

  string(): string {
    return this.bytes().toString();
  }

  /** A reader over a nested message field. */
  message(): ProtoReader {
    const length = this.#varintNumber();
    const start = this.#offset;
    this.#offset += length;
    if (this.#offset > this.#end) throw new Error('truncated protobuf message');
    return new ProtoReader(this.#buffer, start, this.#offset);
  }

  #advance(bytes: number): void {
    if (this.#offset + bytes > this.#end) throw new Error('truncated protobuf field');
    this.#offset += bytes;
  }

  /** Skips the current field's value (a field this adapter does not use). */
  skip(): void {
    switch (this.#wireType) {
      case VARINT:
        this.#varintNumber();
        return;
      case LENGTH_DELIMITED:
        this.bytes();
        return;
      case FIXED64:
        this.#advance(8);
        return;
      case FIXED32:
        this.#advance(4);
        return;
      default:
        throw new Error(`unsupported protobuf wire type ${this.#wireType}`);
    }
  }
}

/**
 * A TCP proxy on loopback that a test controls: it forwards to one target until told to go
 * silent (bytes are held back in both directions, connections stay open: a partition as the
 * endpoints see it, with no RST or FIN), to go deaf (requests pass, answers are dropped), to cut (every connection is destroyed at once), to
 * refuse (new connections are closed at once), or to throttle answers to a number of bytes per
 * second (a slow link: everything arrives, in order, late). This kernel has no iptables or netem, so this is how
 * tests put a fault on one link.
 */
import net from 'node:net';

export type ProxyMode = 'forward' | 'silent' | 'deaf' | 'refuse';

export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** Forwarding, silent (data held back, connections kept) or refusing new connections. */
  readonly mode: ProxyMode;
  /** Stops forwarding: no byte crosses in either direction, no connection is closed. */
  silence(): void;
  /** Forwards requests but drops every answer: the server acts, the client never hears back. */
  deafen(): void;
  /** Forwards again; bytes held back while silent are dropped, as a partition would lose them. */
  restore(): void;
  /** Destroys every open connection (both sides see a reset); new ones are still accepted. */
  cut(): void;
  /** Closes new connections at once (and cuts open ones) until restore(). */
  refuse(): void;
  /**
   * Looks at each chunk before it is forwarded (`up`: client to target, `down`: back) and may
   * cut every connection instead of forwarding it: a drop timed to a request or an answer.
   */
  intercept: ((direction: 'up' | 'down', chunk: Buffer) => 'forward' | 'cut') | undefined;
  /** Keeps answers back (held, not dropped) until {@link releaseAnswers}. */
  holdAnswers(): void;
  /** Sends every held answer, each connection's in one write (so the client reads them as one chunk), and forwards again. */
  releaseAnswers(): void;
  /** Sends the answers held so far (as {@link releaseAnswers}) but keeps holding those that come after. */
  releaseHeldAnswers(): void;
  /** Whether the answers held back so far contain `bytes` (on one connection). */
  holdsAnswerWith(bytes: Buffer): boolean;
  /**
   * Forwards answers at most `bytesPerSecond` per connection, in order, in slices every 50 ms;
   * undefined forwards at full speed again (what is queued is sent at once).
   */
  throttleAnswers(bytesPerSecond: number | undefined): void;
  /** Bytes of answers held back so far. */
  readonly heldBytes: number;
  /** How many client connections were accepted so far. */
  readonly accepted: number;
  /** Number of currently open client connections. */
  readonly open: number;
  close(): Promise<void>;
}

/** Starts a proxy from a free loopback port to `targetHost:targetPort`. */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1', listenPort = 0): Promise<TcpProxy> {
  let mode: ProxyMode = 'forward';
  let accepted = 0;
  let holding = false;
  const held = new Map<net.Socket, Buffer[]>();
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  // Answers queued by the throttle, per client connection, and the timer that drains them.
  let throttleBytesPerSecond: number | undefined;
  const throttled = new Map<net.Socket, Buffer[]>();
  let drainer: NodeJS.Timeout | undefined;
  const THROTTLE_TICK_MS = 50;
  const drain = (all: boolean) => {
    const budget = all ? Infinity : Math.max(1, Math.floor(((throttleBytesPerSecond ?? 0) * THROTTLE_TICK_MS) / 1000));
    for (const [client, queue] of throttled) {
      let left = budget;
      while (left > 0 && queue.length > 0) {
        const chunk = queue[0] as Buffer;
        const slice = chunk.subarray(0, Math.min(left, chunk.length));
        if (slice.length === chunk.length) queue.shift();
        else queue[0] = chunk.subarray(slice.length);
        left -= slice.length;
        if (!client.destroyed) client.write(slice);
      }
      if (queue.length === 0) throttled.delete(client);
    }
  };

  const server = net.createServer((client) => {
    accepted++;
    if (mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    // While silent, data is read and discarded: the endpoints see no answer and no close.
    client.on('data', (chunk: Buffer) => {
      if (mode !== 'forward' && mode !== 'deaf') return;
      if (proxy.intercept?.('up', chunk) === 'cut') cut();
      else upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (mode !== 'forward') return;
      if (holding) return void held.set(client, [...(held.get(client) ?? []), chunk]);
      if (proxy.intercept?.('down', chunk) === 'cut') cut();
      else if (throttleBytesPerSecond !== undefined) {
        const queue = throttled.get(client);
        if (queue) queue.push(chunk);
        else throttled.set(client, [chunk]);
      } else client.write(chunk);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;

  const cut = () => {
    for (const { client, upstream } of pairs) {
      client.resetAndDestroy();
      upstream.resetAndDestroy();
    }
    pairs.clear();
    throttled.clear();
  };

  const proxy: TcpProxy = {
    intercept: undefined,
    port,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    silence() {
      mode = 'silent';
    },
    deafen() {
      mode = 'deaf';
    },
    restore() {
      mode = 'forward';
    },
    cut,
    holdAnswers() {
      holding = true;
    },
    releaseAnswers() {
      holding = false;
      proxy.releaseHeldAnswers();
    },
    releaseHeldAnswers() {
      for (const [client, chunks] of held) if (!client.destroyed) client.write(Buffer.concat(chunks));
      held.clear();
    },
    holdsAnswerWith(bytes) {
      for (const chunks of held.values()) if (Buffer.concat(chunks).includes(bytes)) return true;
      return false;
    },
    throttleAnswers(bytesPerSecond) {
      throttleBytesPerSecond = bytesPerSecond;
      clearInterval(drainer);
      drainer = undefined;
      if (bytesPerSecond === undefined) drain(true);
      else drainer = setInterval(() => drain(false), THROTTLE_TICK_MS);
    },
    get heldBytes() {
      return [...held.values()].flat().reduce((sum, chunk) => sum + chunk.length, 0);
    },
    refuse() {
      mode = 'refuse';
      cut();
    },
    async close() {
      clearInterval(drainer);
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

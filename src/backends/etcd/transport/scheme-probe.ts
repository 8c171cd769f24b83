/**
 * Telling a TLS/plaintext mismatch from a member that is down. A plaintext HTTP/2 client talking
 * to a TLS member sees a reset stream; a TLS client talking to a plaintext member sees the
 * connection closed during the handshake. Both look like a failing member and would be retried
 * until the connect timeout, and the error would not say what is wrong.
 *
 * So when a connection fails at once, before the member said anything in HTTP/2, one probe asks
 * the other way round: a TLS handshake (for a plaintext client), or the HTTP/2 connection preface
 * in plaintext (for a TLS client). Only a positive answer counts (a completed handshake or a TLS
 * alert; a server SETTINGS frame), so an outage, a proxy closing connections or a crashing
 * member is never taken for a mismatch.
 * @module
 */
import net from 'node:net';
import tls from 'node:tls';

/** A member speaks the other scheme than the config asks for: no retry can help. */
export class SchemeMismatchError extends Error {
  override readonly name = 'SchemeMismatchError';
  constructor(
    readonly endpoint: string,
    /** Whether the member speaks TLS (the config asked for plaintext), or the reverse. */
    readonly memberSpeaksTls: boolean,
  ) {
    super(
      memberSpeaksTls
        ? `${endpoint} speaks TLS, but the config asks for plaintext`
        : `${endpoint} speaks plaintext HTTP/2, not TLS, but the config asks for TLS`,
    );
  }
}

/** HTTP/2's client connection preface, then an empty SETTINGS frame (RFC 9113, 3.4). */
const PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);
const SETTINGS_FRAME = 4;

/**
 * Whether the member at `host:port` answers in the scheme the config did not ask for: TLS when
 * `https` is false, plaintext HTTP/2 when it is true. False on anything else, or after `timeoutMs`.
 */
export function speaksOtherScheme(host: string, port: number, https: boolean, timeoutMs: number): Promise<boolean> {
  return https ? speaksPlainHttp2(host, port, timeoutMs) : speaksTls(host, port, timeoutMs);
}

function speaksTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host,
      port,
      // Only "does it speak TLS at all" is asked; nothing is sent over this connection.
      rejectUnauthorized: false,
      ...(net.isIP(host) ? {} : { servername: host }),
      ALPNProtocols: ['h2'],
    });
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('secureConnect', () => done(true));
    // A TLS alert from the member (it wants a client certificate, say) is TLS too.
    socket.on('error', (error: Error & { code?: string }) => done(/alert/i.test(`${error.code ?? ''} ${error.message}`)));
    socket.once('close', () => done(false));
  });
}

function speaksPlainHttp2(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let received = Buffer.alloc(0);
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => socket.write(PREFACE));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // A server's connection preface is a SETTINGS frame: 3-byte length, then the type.
      if (received.length >= 9) done(received[3] === SETTINGS_FRAME);
    });
    socket.on('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

/**
 * `rediss://` against a real redis-server listening with TLS (certificates made with openssl for
 * 127.0.0.1): the CA given as a file in the URL or as PEM text in the object form, a lock taken and
 * handed over; and a clear error when the server's certificate is not trusted.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendError, connect } from '../../src/index.js';
import { generateTls, type TlsFiles } from '../support/etcd-server.js';
import { localRedisAvailable, type RedisServer, startRedis } from '../support/redis-server.js';
import { tempDir } from '../support/servers.js';

const wanted = (localRedisAvailable() && existsSync('/usr/bin/openssl')) || process.env.CI === 'true';
let server: RedisServer | undefined;
let files: TlsFiles | undefined;
let removeDir: (() => Promise<void>) | undefined;

beforeAll(async () => {
  if (!wanted) return;
  const dir = await tempDir('redis-tls');
  removeDir = dir.remove;
  files = generateTls(dir.path);
  if (!files) throw new Error('openssl is needed to make the test certificates');
  server = await startRedis({ needControl: true, tls: { cert: files.serverCert, key: files.serverKey, ca: files.ca } });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await removeDir?.();
});

describe.skipIf(!wanted)('Redis over TLS (rediss://)', () => {
  it('takes and hands over a lock with the CA as a file in the URL and as PEM text in the object form', async () => {
    const a = await connect(`rediss://127.0.0.1:${server!.tlsPort}?ca=${encodeURIComponent(files!.ca)}&ttl=5`);
    const b = await connect({ backend: 'redis', host: '127.0.0.1', port: server!.tlsPort!, ttl: 5, tls: { ca: readFileSync(files!.ca, 'utf8') } });
    try {
      const held = await a.mutex('tls/lock').acquire();
      let queued!: () => void;
      const isQueued = new Promise<void>((resolve) => (queued = resolve));
      const waiting = b.mutex('tls/lock').acquire({ onQueued: () => queued() });
      await isQueued;
      await held.release();
      const next = await waiting;
      expect(next.token > held.token).toBe(true);
      await next.release();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a server certificate the client does not trust: a BackendError saying TLS failed', async () => {
    // Without the test CA the client trusts only the system's CAs, which did not sign this server.
    const error = await connect(`rediss://127.0.0.1:${server!.tlsPort}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toMatch(/TLS failed .*certificate/i);
  });
});

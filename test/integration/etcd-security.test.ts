/**
 * etcd with authentication (users, roles, `auth enable`) and with TLS (certificates generated
 * here with openssl, client certificates required): Baton works with the right credentials and
 * says clearly what is wrong otherwise.
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EtcdBackend } from '../../src/backends/etcd/index.js';
import { BackendError, ConfigError, connect } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { type EtcdServers, generateTls, localEtcdAvailable, startEtcd, type TlsFiles } from '../support/etcd-server.js';
import { serverUnavailable, tempDir } from '../support/servers.js';

const wanted = localEtcdAvailable() || process.env.CI === 'true';
const unique = (label: string) => `security/${label}-${randomUUID().slice(0, 8)}`;

describe.skipIf(!wanted)('etcd with authentication', () => {
  let servers: EtcdServers | undefined;
  beforeAll(async () => {
    servers = await startEtcd({ needControl: true });
    if (!servers) return;
    const steps = [
      ['user', 'add', 'root:root-secret'],
      ['user', 'add', 'alice:alice-secret'],
      ['role', 'add', 'app-rw'],
      ['role', 'grant-permission', 'app-rw', '--prefix=true', 'readwrite', 'app/'],
      // The connection check reads under baton/ when there is no namespace.
      ['role', 'grant-permission', 'app-rw', '--prefix=true', 'read', 'baton/'],
      ['user', 'grant-role', 'alice', 'app-rw'],
      // bob may read what alice may write.
      ['user', 'add', 'bob:bob-secret'],
      ['role', 'add', 'app-ro'],
      ['role', 'grant-permission', 'app-ro', '--prefix=true', 'read', 'app/'],
      ['user', 'grant-role', 'bob', 'app-ro'],
      ['auth', 'enable'],
    ];
    for (const step of steps) {
      const result = await servers.etcdctl(step);
      if (result.code !== 0) throw new Error(`etcdctl ${step.join(' ')} failed: ${result.stderr}`);
    }
  }, 120_000);
  afterAll(async () => {
    await servers?.stop();
  });

  it('locks with a user whose role covers the namespace', async () => {
    const a = await connect(servers!.url({ auth: { username: 'alice', password: 'alice-secret' }, namespace: 'app/' }));
    const b = await connect({ backend: 'etcd', endpoints: servers!.endpoints, namespace: 'app/', auth: { username: 'alice', password: 'alice-secret' } });
    try {
      const name = unique('auth');
      const lease = await a.mutex(name).acquire();
      expect(await b.mutex(name).tryAcquire()).toBeUndefined();
      await lease.release();
      const next = await b.mutex(name).acquire({ timeoutMs: 5000 });
      await next.release();
      // The keys really are under the namespace, as root sees them.
      const listed = await servers!.etcdctl(['get', '--prefix', '--keys-only', `app/${name}`], { user: 'root:root-secret' });
      expect(listed.code).toBe(0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a watch refused for lack of permission fails only its own wait: a permitted name still works', async () => {
    const auth = { username: 'alice', password: 'alice-secret' };
    const [a, b] = [await connect(servers!.url({ auth })), await connect(servers!.url({ auth }))];
    try {
      const denied = await a.mutex(unique('not-permitted')).acquire({ timeoutMs: 3000 }).catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(BackendError);
      expect((denied as Error).message).toMatch(/denied user "alice"/);
      // Same coordinator, a name alice may use, held by another: granted on release.
      const name = `app/${unique('permitted')}`;
      const holder = await b.mutex(name).acquire();
      let queued!: () => void;
      const isQueued = new Promise<void>((resolve) => (queued = resolve));
      const waiting = a.mutex(name).acquire({ timeoutMs: 5000, onQueued: () => queued() });
      await isQueued;
      await holder.release();
      const releasedAt = performance.now();
      const lease = await waiting;
      expect(performance.now() - releasedAt).toBeLessThan(1000);
      await lease.release();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('coordinators of one process with different credentials never share a connection: a reader is refused the write its neighbour may make', async () => {
    const alice = await connect(servers!.url({ auth: { username: 'alice', password: 'alice-secret' }, namespace: 'app/' }));
    const bob = await connect(servers!.url({ auth: { username: 'bob', password: 'bob-secret' }, namespace: 'app/' }));
    try {
      const name = unique('credentials');
      // alice's connection holds alice's token, in use.
      await (await alice.mutex(name).acquire()).release();
      const denied = await bob.mutex(name).acquire({ timeoutMs: 3000 }).catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(BackendError);
      expect((denied as Error).message).toMatch(/denied user "bob"/);
      expect((backendOf(bob) as EtcdBackend).client).not.toBe((backendOf(alice) as EtcdBackend).client);
    } finally {
      await Promise.all([alice.close(), bob.close()]);
    }
  });

  it('a wrong password is a BackendError that names the user and says the credentials are wrong', async () => {
    const error = await connect(servers!.url({ auth: { username: 'alice', password: 'not-it' } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toMatch(/user "alice".*wrong user name or password/);
    expect((error as Error).message).not.toContain('not-it');
  });

  it('an unknown user is refused the same way', async () => {
    const error = await connect(servers!.url({ auth: { username: 'mallory', password: 'x' } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toMatch(/user "mallory".*wrong user name or password/);
  });

  it('no credentials on a cluster with auth enabled is a BackendError that asks for them', async () => {
    const error = await connect(servers!.url()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toMatch(/user:pass@|auth/);
  });

  it('a user without permission on the keys is told so', async () => {
    const error = await connect(servers!.url({ auth: { username: 'alice', password: 'alice-secret' }, namespace: 'elsewhere/' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toMatch(/denied user "alice"/);
  });
});

describe.skipIf(!wanted)('etcd whose password check is slow', () => {
  // bcrypt cost 14 (16 times the default work) makes each Authenticate take about a second of the
  // member's CPU, as cost 10 does on a busy member: an attempt cut at a read's deadline never ends.
  let servers: EtcdServers | undefined;
  beforeAll(async () => {
    servers = await startEtcd({ needControl: true, extraArgs: ['--bcrypt-cost=14'] });
    if (!servers) return;
    for (const step of [['user', 'add', 'root:root-secret'], ['user', 'add', 'slow:slow-secret'], ['user', 'grant-role', 'slow', 'root'], ['auth', 'enable']]) {
      const result = await servers.etcdctl(step, { timeoutMs: 30_000 });
      if (result.code !== 0) throw new Error(`etcdctl ${step.join(' ')} failed: ${result.stderr}`);
    }
  }, 120_000);
  afterAll(async () => {
    await servers?.stop();
  });

  it('connects and locks although authenticating takes longer than a read', async () => {
    const coord = await connect(servers!.url({ auth: { username: 'slow', password: 'slow-secret' } }), { timeoutMs: 20_000 });
    try {
      const lease = await coord.mutex(unique('slow-auth')).acquire({ timeoutMs: 10_000 });
      expect(lease.token).toBeGreaterThan(0n);
      await lease.release();
    } finally {
      await coord.close();
    }
  }, 60_000);
});

describe.skipIf(!wanted)('etcd with TLS', () => {
  let servers: EtcdServers | undefined;
  /** A plaintext server beside the TLS one, for the scheme mismatch the other way round. */
  let plain: EtcdServers | undefined;
  let tls: TlsFiles | undefined;
  let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
  beforeAll(async () => {
    dir = await tempDir('etcd-tls');
    tls = generateTls(dir.path);
    if (!tls) {
      serverUnavailable('openssl (for the etcd TLS tests)', 'install the Debian "openssl" package');
      return;
    }
    [servers, plain] = await Promise.all([startEtcd({ tls }), startEtcd({ needControl: true })]);
    // Loaded before the timed tests below, which should time the connection, not the import.
    await import('../../src/backends/etcd/index.js');
  }, 120_000);
  afterAll(async () => {
    await Promise.all([servers?.stop(), plain?.stop()]);
    await dir?.remove();
  });

  it('locks over etcd+https:// with CA, certificate and key files in the URL', async () => {
    const params = new URLSearchParams({ ca: tls!.ca, cert: tls!.clientCert, key: tls!.clientKey, ttl: '5' });
    const url = `etcd+https://${servers!.endpoints.join(',')}?${params}`;
    const [a, b] = [await connect(url), await connect(url)];
    try {
      const name = unique('tls-url');
      const lease = await a.mutex(name).acquire();
      let queued!: () => void;
      const isQueued = new Promise<void>((resolve) => (queued = resolve));
      const next = b.mutex(name).acquire({ onQueued: () => queued() });
      await isQueued;
      await lease.release();
      const granted = await next;
      expect(granted.token > lease.token).toBe(true);
      await granted.release();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('locks with PEM text in the object form and https:// endpoints, with no warning about SNI for an IP', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(`${warning.code ?? warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    const coord = await connect({
      backend: 'etcd',
      endpoints: servers!.endpoints.map((e) => `https://${e}`),
      tls: { ca: readFileSync(tls!.ca, 'utf8'), cert: readFileSync(tls!.clientCert, 'utf8'), key: readFileSync(tls!.clientKey, 'utf8') },
    });
    try {
      const lease = await coord.mutex(unique('tls-object')).acquire();
      expect(typeof lease.token).toBe('bigint');
      await lease.release();
    } finally {
      await coord.close();
      process.off('warning', onWarning);
    }
    // Node warns (DEP0123) when TLS is given an IP address as server name; the endpoints are IPs.
    expect(warnings.filter((w) => w.startsWith('DEP0123'))).toEqual([]);
  });

  it('plain etcd:// against a TLS server fails at once with a ConfigError that says to use etcd+https://', async () => {
    const started = performance.now();
    const error = await connect(`etcd://${servers!.endpoints.join(',')}`).catch((e: unknown) => e);
    const ms = performance.now() - started;
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/TLS\/plaintext mismatch .* serves TLS, but the config asks for plaintext .*use etcd\+https:\/\//);
    // Retried as an outage until the connect timeout (5 s) before: 4.6-5.2 s here.
    expect(ms).toBeLessThan(1000);
  });

  it('etcd+https:// against a plaintext server fails at once with a ConfigError that says to use etcd://', async () => {
    const params = new URLSearchParams({ ca: tls!.ca, cert: tls!.clientCert, key: tls!.clientKey });
    const started = performance.now();
    const error = await connect(`etcd+https://${plain!.endpoints.join(',')}?${params}`).catch((e: unknown) => e);
    const ms = performance.now() - started;
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/TLS\/plaintext mismatch .* serves plaintext, but the config asks for TLS .*use etcd:\/\//);
    expect(ms).toBeLessThan(1000);
    // The same through the object form.
    const object = await connect({ backend: 'etcd', endpoints: plain!.endpoints.map((e) => `https://${e}`) }).catch((e: unknown) => e);
    expect(object).toBeInstanceOf(ConfigError);
  });

  it('TLS without the client certificate the server requires fails with a BackendError about TLS', async () => {
    const error = await connect(`etcd+https://${servers!.endpoints.join(',')}?ca=${encodeURIComponent(tls!.ca)}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toMatch(/^connecting: TLS with etcd at .* failed .*certificate/);
  });
});

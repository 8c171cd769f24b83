/**
 * etcd configuration: URLs and object forms resolve to the right options; bad input throws a
 * ConfigError naming the field and what is accepted; an unreachable cluster is a BackendError.
 * Needs no server.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EtcdOptions } from '../../src/backends/etcd/config.js';
import { contenderName, roleOfName } from '../../src/backends/etcd/keys.js';
import { resolveConfig } from '../../src/config.js';
import { BackendError, ConfigError, connect } from '../../src/index.js';
import { freePort } from '../support/servers.js';

async function options(config: Parameters<typeof resolveConfig>[0]): Promise<EtcdOptions> {
  const { module, options } = await resolveConfig(config, {});
  expect(module.kind).toBe('etcd');
  return options as EtcdOptions;
}

async function rejection(config: Parameters<typeof resolveConfig>[0]): Promise<ConfigError> {
  const error = await resolveConfig(config, {}).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('etcd configuration', () => {
  it('reads endpoints, ttl, namespace and credentials from a URL', async () => {
    const o = await options('etcd://ops:s%40cret@10.0.0.1:2379,10.0.0.2:2379?ttl=5&namespace=app1/');
    expect(o).toMatchObject({ endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'], https: false, ttl: 5, namespace: 'app1/', auth: { username: 'ops', password: 's@cret' } });
    expect(o.tls).toBeUndefined();
  });

  it('defaults the TTL to 10 s and the namespace to none', async () => {
    expect(await options('etcd://127.0.0.1:2379')).toMatchObject({ ttl: 10, namespace: '', auth: undefined });
  });

  it('takes TLS files from an etcd+https:// URL and PEM text or files from the object form', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-etcd-config-'));
    try {
      const ca = join(dir, 'ca.pem');
      writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nfrom a file\n-----END CERTIFICATE-----\n');
      const fromUrl = await options(`etcd+https://h:2379?ca=${encodeURIComponent(ca)}`);
      expect(fromUrl.https).toBe(true);
      expect(fromUrl.tls?.ca?.toString()).toContain('from a file');
      const fromObject = await options({ backend: 'etcd', endpoints: ['https://h:2379'], tls: { ca: '-----BEGIN CERTIFICATE-----\ninline\n' } });
      expect(fromObject).toMatchObject({ endpoints: ['h:2379'], https: true });
      expect(fromObject.tls?.ca?.toString()).toContain('inline');
      expect((await options({ backend: 'etcd', endpoints: ['h:2379'], tls: { ca } })).https).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['etcd://', /no endpoints.*etcd:\/\/\[user:pass@\]host:port/],
    ['etcd://localhost', /invalid endpoints entry "localhost".*host:port/],
    ['etcd://h:99999', /ports are 1-65535/],
    ['etcd://h:2379/jobs', /unexpected path "\/jobs".*namespace=PREFIX/],
    ['etcd://h:2379?timeout=3', /unknown parameter "timeout".*accepted parameters are ttl, namespace/],
    ['etcd://h:2379?ttl=0', /invalid ttl "0".*from 1 to 86400/],
    ['etcd://h:2379?ttl=soon', /invalid ttl "soon"/],
    ['etcd://h:2379?ca=/x.pem', /unknown parameter "ca"/],
    ['etcd+https://h:2379?ca=/does/not/exist.pem', /cannot read "\/does\/not\/exist.pem".*PEM/],
    ['etcd+https://h:2379?cert=-----BEGIN%20X', /give both cert and key/],
  ])('rejects %s', async (url, message) => {
    expect((await rejection(url)).message).toMatch(message);
  });

  it.each([
    [{ backend: 'etcd' }, /invalid endpoints undefined.*non-empty list/],
    [{ backend: 'etcd', endpoints: [] }, /non-empty list/],
    [{ backend: 'etcd', endpoints: ['h:2379'], ttl: -1 }, /invalid ttl -1/],
    [{ backend: 'etcd', endpoints: ['h:2379'], namespace: 7 }, /invalid namespace 7/],
    [{ backend: 'etcd', endpoints: ['h:2379'], auth: { username: '' } }, /invalid auth.*username/],
    [{ backend: 'etcd', endpoints: ['h:2379'], hosts: ['x'] }, /unknown field "hosts".*accepted fields are backend, endpoints, ttl, namespace, auth, tls/],
    [{ backend: 'etcd', endpoints: ['http://a:1', 'https://b:1'] }, /mixing http:\/\/ and https:\/\//],
    [{ backend: 'etcd', endpoints: ['http://a:1'], tls: {} }, /http:\/\/ endpoints cannot be combined with tls/],
    [{ backend: 'etcd', endpoints: ['a:1'], tls: { ca: 'x', pem: 'y' } }, /unknown field "pem" in etcd tls config/],
  ])('rejects the object %j', async (config, message) => {
    expect((await rejection(config as never)).message).toMatch(message);
  });

  it('an unreachable cluster is a BackendError naming the endpoints', async () => {
    const port = await freePort();
    const error = await connect(`etcd://127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as Error).message).toContain(`etcd at 127.0.0.1:${port} is unreachable`);
  });
});

describe('etcd key layout', () => {
  it('names a session first contender exactly <lease hex>, then suffixed ones, and reads roles back', () => {
    expect(contenderName('694d7d8a2b3c', 'lock', 1)).toBe('694d7d8a2b3c');
    // Election campaigners carry a tag, so that a mutex on the same name can tell them apart.
    expect(contenderName('694d7d8a2b3c', 'latch', 1)).toBe('694d7d8a2b3c-latch');
    expect(contenderName('694d7d8a2b3c', 'lock', 2)).toBe('694d7d8a2b3c-2');
    expect(contenderName('694d7d8a2b3c', 'read', 1)).toBe('694d7d8a2b3c-read');
    expect(contenderName('694d7d8a2b3c', 'write', 3)).toBe('694d7d8a2b3c-write-3');
    expect(contenderName('694d7d8a2b3c', 'lease', 1)).toBe('694d7d8a2b3c-lease');
    for (const role of ['read', 'write', 'lease', 'latch'] as const) expect(roleOfName(contenderName('abc', role, 2))).toBe(role);
    expect(roleOfName('694d7d8a2b3c')).toBe('lock');
    expect(roleOfName('694d7d8a2b3c-2')).toBe('lock');
    // Keys Baton did not write (another client's) are the exclusive role.
    expect(roleOfName('some-read')).toBe('lock');
    expect(roleOfName('nothex-read')).toBe('lock');
  });
});

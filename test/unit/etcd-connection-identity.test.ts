/**
 * What makes two etcd coordinators of one process share a connection (docs/etcd.md): everything
 * that decides what the connection may do on the server, and nothing else.
 */
import { describe, expect, it } from 'vitest';
import { optionsFromObject, optionsFromUrl } from '../../src/backends/etcd/config.js';
import { connectionIdentity } from '../../src/backends/etcd/shared-connection.js';
import { parseBackendUrl } from '../../src/backends/config-fields.js';
import { ConfigError } from '../../src/errors.js';

const CA = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
const OTHER_CA = '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n';
const base = { backend: 'etcd', endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'], auth: { username: 'alice', password: 'secret' }, tls: { ca: CA } };
const identity = (changes: Record<string, unknown>) => connectionIdentity(optionsFromObject({ ...base, ...changes }));

describe('etcd connection identity', () => {
  it('is the same whatever the TTL, the namespace or the order of the endpoints', () => {
    const reference = identity({});
    expect(identity({ ttl: 30 })).toBe(reference);
    expect(identity({ namespace: 'app/' })).toBe(reference);
    expect(identity({ endpoints: ['10.0.0.2:2379', '10.0.0.1:2379'] })).toBe(reference);
    expect(identity({ endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'] })).toBe(reference);
  });

  it('differs with the endpoints, TLS, the TLS material, the user or the password', () => {
    const reference = identity({});
    const others = [
      identity({ endpoints: ['10.0.0.1:2379'] }),
      identity({ endpoints: ['10.0.0.1:2379', '10.0.0.3:2379'] }),
      identity({ tls: { ca: OTHER_CA } }),
      identity({ tls: { ca: CA, cert: CA, key: OTHER_CA } }),
      identity({ tls: undefined }),
      identity({ auth: { username: 'bob', password: 'secret' } }),
      identity({ auth: { username: 'alice', password: 'secret2' } }),
      identity({ auth: undefined }),
    ];
    expect(new Set([reference, ...others]).size).toBe(others.length + 1);
  });

  it('spells out no credentials', () => {
    expect(identity({})).not.toMatch(/alice|secret/);
  });

  it('shareConnection: true by default, false on request in both forms, anything else refused at once', () => {
    expect(optionsFromObject(base).shareConnection).toBe(true);
    expect(optionsFromObject({ ...base, shareConnection: false }).shareConnection).toBe(false);
    expect(() => optionsFromObject({ ...base, shareConnection: 'no' })).toThrow(ConfigError);
    expect(() => optionsFromObject({ ...base, shareConnection: 'no' })).toThrow(/shareConnection must be true or false/);
    const url = (query: string) => optionsFromUrl(parseBackendUrl(`etcd://127.0.0.1:2379${query}`, 'test'));
    expect(url('').shareConnection).toBe(true);
    expect(url('?shareconnection=false').shareConnection).toBe(false);
    expect(url('?shareconnection=0').shareConnection).toBe(false);
    expect(() => url('?shareconnection=maybe')).toThrow(/shareconnection must be true, false, 1 or 0/);
  });
});

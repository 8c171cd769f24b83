import { describe, expect, it } from 'vitest';
import { backendUrl } from '../../src/cli/backend.js';
import { resolveConfig } from '../../src/config.js';
import { ConfigError } from '../../src/index.js';

describe('BATON_BACKEND', () => {
  it('set but empty (or blank) is a ConfigError, not the memory backend', async () => {
    for (const value of ['', '   ']) {
      const resolved = resolveConfig(undefined, { BATON_BACKEND: value });
      await expect(resolved).rejects.toBeInstanceOf(ConfigError);
      await expect(resolveConfig(undefined, { BATON_BACKEND: value })).rejects.toThrow(
        /BATON_BACKEND is set but empty: set it to a backend URL \(memory:\/\/, etcd:\/\/.*\), or unset it for the default memory:\/\//,
      );
    }
  });

  it('unset still gives the embedded default', async () => {
    expect((await resolveConfig(undefined, {})).module.kind).toBe('memory');
  });

  it('baton says an empty BATON_BACKEND is empty, and --backend still wins over it', () => {
    expect(() => backendUrl(undefined, undefined, { BATON_BACKEND: '' }, 'lock')).toThrow(/BATON_BACKEND is set but empty: pass --backend URL/);
    expect(backendUrl('etcd://a:1', undefined, { BATON_BACKEND: '' }, 'lock')).toBe('etcd://a:1');
  });
});

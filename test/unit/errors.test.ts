import { describe, expect, it } from 'vitest';
import * as baton from '../../src/index.js';
import { BatonError, connect } from '../../src/index.js';

/** Every error class the package exports, found by walking its exports (a new one cannot be missed). */
const errorClasses = Object.entries(baton as Record<string, unknown>).filter(
  ([, value]) => typeof value === 'function' && (value as { prototype: unknown }).prototype instanceof BatonError,
) as [string, new (message: string) => BatonError][];

describe('errors', () => {
  it('every exported BatonError subclass has a distinct, stable upper-case code and its own name', () => {
    expect(errorClasses.length).toBeGreaterThanOrEqual(11);
    const codes = new Map<string, string>();
    for (const [exported, ErrorClass] of errorClasses) {
      const error = exported === 'StaleTokenError' ? new baton.StaleTokenError(1n, 2n) : new ErrorClass('x');
      expect(error).toBeInstanceOf(BatonError);
      expect(error.name).toBe(exported);
      expect(error.code).toMatch(/^[A-Z_]+$/);
      expect(codes.has(error.code), `${exported} reuses ${error.code}`).toBe(false);
      codes.set(error.code, exported);
    }
    expect(Object.fromEntries([...codes].map(([code, name]) => [name, code]))).toEqual({
      ConfigError: 'CONFIG',
      InvalidArgumentError: 'INVALID_ARGUMENT',
      TimeoutError: 'TIMEOUT',
      AbortError: 'ABORTED',
      SessionLostError: 'SESSION_LOST',
      LeaseLostError: 'LEASE_LOST',
      LeaseReleasedError: 'LEASE_RELEASED',
      ClosedError: 'CLOSED',
      BackendError: 'BACKEND',
      OutcomeUnknownError: 'OUTCOME_UNKNOWN',
      StaleTokenError: 'STALE_TOKEN',
      ConflictError: 'CONFLICT',
      NameConflictError: 'NAME_CONFLICT',
      ContactLostError: 'CONTACT_LOST',
    });
  });

  it('an unknown outcome is a BackendError too, so existing handlers still catch it', () => {
    expect(new baton.OutcomeUnknownError('x')).toBeInstanceOf(baton.BackendError);
  });
});

describe('connect options', () => {
  it('rejects with an AbortError at once for an aborted signal, and a TimeoutError after timeoutMs', async () => {
    await expect(connect('memory://', { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORTED' });
    const coord = await connect('memory://', { timeoutMs: 1000 });
    await coord.close();
  });

  it('says what is wrong with bad options, at once', async () => {
    await expect(connect('memory://', { timeoutMs: -1 })).rejects.toThrow(/invalid timeoutMs -1/);
    await expect(connect('memory://', { signal: 'no' as never })).rejects.toThrow(/invalid signal "no"/);
    await expect(connect('memory://', 5 as never)).rejects.toThrow(/invalid connect options 5/);
  });
});

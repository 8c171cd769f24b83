import { describe, expect, it } from 'vitest';
import { until } from '../support/until.js';

describe('until', () => {
  it('resolves once the condition holds, asking an async condition again only after its answer', async () => {
    let asked = 0;
    let inFlight = 0;
    await until(async () => {
      expect(inFlight).toBe(0);
      inFlight++;
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return ++asked === 5;
    });
    expect(asked).toBe(5);
  });

  it('fails after its bound, saying what was awaited as it stood at the end', async () => {
    let state = 0;
    const waiting = until(() => (state++, false), () => `state ${state}`, 50);
    await expect(waiting).rejects.toThrow(/^state \d+: not reached within 0.05 s$/);
    expect(state).toBeGreaterThan(1);
    await expect(until(() => false, 'never', 10)).rejects.toThrow('never: not reached within 0.01 s');
  });
});

import { describe, expect, it } from 'vitest';
import { boundedPoissonInterval, clampedPoissonInterval, poissonInterval } from './jitter.js';

describe('jitter', () => {
  it('clampedPoissonInterval stays within Prefect’s clamp for factor 0.2', () => {
    const lo = clampedPoissonInterval(10, 0.2, () => 0);
    const hi = clampedPoissonInterval(10, 0.2, () => 0.9999999);
    // lower_clamp_multiple(1.2) = log2(2^1.2 / (2^1.2 - 1)) ≈ 0.8244
    expect(lo).toBeCloseTo(10 * Math.log2(2 ** 1.2 / (2 ** 1.2 - 1)), 6);
    expect(hi).toBeCloseTo(12, 4);
    for (let i = 0; i < 200; i++) {
      const x = clampedPoissonInterval(10, 0.2, Math.random);
      expect(x).toBeGreaterThanOrEqual(lo - 1e-9);
      expect(x).toBeLessThanOrEqual(12 + 1e-9);
    }
  });

  it('clampedPoissonInterval keeps the mean near the average', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1664525 + 1013904223) % 2 ** 32;
      return seed / 2 ** 32;
    };
    let sum = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) sum += clampedPoissonInterval(1, 0.3, random);
    expect(sum / n).toBeGreaterThan(0.95);
    expect(sum / n).toBeLessThan(1.05);
  });

  it('clampedPoissonInterval returns the input for a non-positive factor or average', () => {
    expect(clampedPoissonInterval(4, 0, () => 0.5)).toBe(4);
    expect(clampedPoissonInterval(0, 0.2, () => 0.5)).toBe(0);
  });

  it('boundedPoissonInterval never goes below the lower bound or above the upper one', () => {
    expect(boundedPoissonInterval(3, 3.6, () => 0)).toBe(3);
    for (const r of [0.1, 0.5, 0.9, 0.9999999]) {
      const x = boundedPoissonInterval(3, 3.6, () => r);
      expect(x).toBeGreaterThanOrEqual(3);
      expect(x).toBeLessThanOrEqual(3.6);
    }
  });

  it('poissonInterval maps the CDF slice onto the exponential distribution', () => {
    expect(poissonInterval(2, 0, 1, () => 0)).toBeCloseTo(0, 10);
    expect(poissonInterval(2, 0.5, 0.5, () => 0.3)).toBeCloseTo(2 * Math.LN2, 10);
  });
});

import { describe, expect, it } from 'vitest';
import { GcGovernor } from './heap.js';

const MiB = 1024 * 1024;

function governor(start: number, budget = 16 * MiB) {
  let used = start;
  let collections = 0;
  let afterGc = start;
  const g = new GcGovernor({
    budget,
    used: () => used,
    gc: () => {
      collections += 1;
      used = afterGc;
    },
  });
  return {
    g,
    set: (v: number) => {
      used = v;
    },
    afterGcIs: (v: number) => {
      afterGc = v;
    },
    collections: () => collections,
  };
}

describe('GcGovernor', () => {
  it('collects only once use grew by more than the budget since the last collection', () => {
    const t = governor(40 * MiB);
    t.set(56 * MiB);
    expect(t.g.check()).toBe(false);
    t.afterGcIs(42 * MiB);
    t.set(57 * MiB);
    expect(t.g.check()).toBe(true);
    expect(t.collections()).toBe(1);
    // The baseline is what the collection left: 42 MiB.
    t.set(58 * MiB);
    expect(t.g.check()).toBe(false);
    t.set(59 * MiB);
    expect(t.g.check()).toBe(true);
    expect(t.collections()).toBe(2);
  });

  it('follows collections V8 made on its own', () => {
    const t = governor(60 * MiB);
    t.set(30 * MiB); // V8 collected: the baseline drops
    expect(t.g.check()).toBe(false);
    t.set(47 * MiB);
    expect(t.g.check()).toBe(true);
  });
});

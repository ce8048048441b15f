/**
 * The worker's heap policy, applied by the `stevedore` bin before it loads the CLI. Measured with
 * `pnpm bench --scenario tracked-5000` (5,000 tracked tasks, 2 shared cores): with V8's defaults the worker's
 * resident set peaked at 180–210 MiB, most of it memory V8 had not needed to collect yet; with these, ~125 MiB.
 *
 * - **Young generation.** V8 grows each semi-space from 1 MiB up to 16 MiB when many objects survive scavenges,
 *   and all of it stays resident (~30 MiB). `--max-semi-space-size` cannot be changed once the heap exists, but the
 *   growth factor is read at each growth: 1 keeps the semi-spaces at their initial 1 MiB (more, cheap, scavenges:
 *   ~15–20 % more CPU per launched run in `pnpm bench --scenario burst`).
 * - **Garbage of HTTP answers.** Each DescribeTasks poll and tracker round reads megabytes of answers whose buffers
 *   live outside the heap; V8 collects them after ~64 MiB of such memory, or when the old generation reaches a
 *   limit sized for a busy heap. {@link GcGovernor} runs a full collection when the heap in use plus array buffers
 *   grew by {@link GC_BUDGET_BYTES} since the last one.
 *
 * Both go through `v8.setFlagsFromString`, which Node documents as "use with care" (a flag read only when the heap is
 * created, like `--max-semi-space-size`, would do nothing: verified, it does not shrink the young generation). The
 * growth factor is read by V8 when the young generation grows, and `--expose-gc` when a context is created (the
 * `gc` function comes from a new context, and the flag is turned off again).
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Growth of heap use + array buffers since the last collection that triggers one. */
export const GC_BUDGET_BYTES = 16 * 1024 * 1024;
/** How often {@link GcGovernor} looks. */
export const GC_CHECK_INTERVAL_MS = 250;

/** Decides when to collect: when used memory grew by more than `budget` since the last collection. @internal */
export class GcGovernor {
  private baseline: number;

  constructor(private readonly opts: { budget: number; used: () => number; gc: () => void }) {
    this.baseline = opts.used();
  }

  /** Collects if over budget; returns whether it did. */
  check(): boolean {
    const used = this.opts.used();
    if (used < this.baseline) this.baseline = used; // V8 collected on its own
    if (used - this.baseline <= this.opts.budget) return false;
    this.opts.gc();
    this.baseline = this.opts.used();
    return true;
  }
}

/** Heap in use plus memory of array buffers (HTTP answers), in bytes. */
function usedBytes(): number {
  const heap = getHeapStatistics();
  return heap.used_heap_size + process.memoryUsage().arrayBuffers;
}

/** Applies the settings above; called once by the bin. */
export function applyHeapSettings(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  setFlagsFromString('--no-expose-gc');
  if (typeof gc !== 'function') return;
  const governor = new GcGovernor({ budget: GC_BUDGET_BYTES, used: usedBytes, gc });
  setInterval(() => governor.check(), GC_CHECK_INTERVAL_MS).unref();
}

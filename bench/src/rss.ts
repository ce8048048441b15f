import { readFileSync } from 'node:fs';

/** VmRSS and VmHWM of one process, in KiB, from `/proc/<pid>/status` (Linux). */
export function readMemory(pid: number): { rssKiB: number; hwmKiB: number } | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null; // exited, or not Linux
  }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

export interface RssSample {
  at: number;
  rssKiB: number;
}

/**
 * Samples one process's resident set size every `intervalMs`: the worker alone, since it is its own
 * process (the emulators live in the benchmark's process). `mark()` starts a new named phase.
 */
export class RssSampler {
  private readonly samples: Array<RssSample & { phase: string }> = [];
  private phase = 'startup';
  private timer: NodeJS.Timeout | undefined;
  private lastHwmKiB = 0;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 250,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  mark(phase: string): void {
    this.phase = phase;
    this.sample();
  }

  sample(): void {
    const m = readMemory(this.pid);
    if (!m) return;
    this.samples.push({ at: Date.now(), rssKiB: m.rssKiB, phase: this.phase });
    this.lastHwmKiB = Math.max(this.lastHwmKiB, m.hwmKiB);
  }

  stop(): void {
    this.sample();
    if (this.timer) clearInterval(this.timer);
  }

  /** Samples of one phase. */
  of(phase: string): RssSample[] {
    return this.samples.filter((s) => s.phase === phase);
  }

  get count(): number {
    return this.samples.length;
  }

  /** Largest sampled VmRSS. */
  get peakKiB(): number {
    return this.samples.reduce((m, s) => Math.max(m, s.rssKiB), 0);
  }

  /** The kernel's high-water mark of the resident set (VmHWM): catches peaks between samples. */
  get hwmKiB(): number {
    return this.lastHwmKiB;
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

export const mib = (kib: number): number => Math.round((kib / 1024) * 10) / 10;

/** CPU time (user + system) a process has used so far, in ms, from `/proc/<pid>/stat`; null when unreadable. */
export function readCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * (1000 / CLOCK_TICKS_PER_SECOND) : null;
  } catch {
    return null;
  }
}

/** `getconf CLK_TCK`: 100 on every Linux Node supports. */
const CLOCK_TICKS_PER_SECOND = 100;

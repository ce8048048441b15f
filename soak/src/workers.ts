import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { SecretScanner } from './invariants.js';

/** `packages/cli/dist/bin.js`, found through the workspace dependency. */
export function workerBin(): string {
  const require = createRequire(import.meta.url);
  const bin = join(dirname(require.resolve('@stevedore/cli/package.json')), 'dist', 'bin.js');
  try {
    readFileSync(bin);
  } catch {
    throw new Error(`${bin} is missing: build the CLI first (pnpm soak and pnpm test do: turbo run build).`);
  }
  return bin;
}

interface Slot {
  index: number;
  name: string;
  child: ChildProcess | null;
  /** Process incarnations started so far. */
  starts: number;
  /** We killed the current process (or are stopping it): its exit is expected. */
  expectExit: boolean;
  restartTimer: NodeJS.Timeout | null;
  exited: Promise<void>;
}

export interface WorkerPoolOptions {
  bin: string;
  count: number;
  pool: string;
  env: Record<string, string>;
  cwd: string;
  scanner: SecretScanner;
  /** Every worker's output is appended here too, each line prefixed with its source. */
  logFile?: string;
  onEvent?: (line: string) => void;
}

/**
 * K worker processes of the real CLI (`node packages/cli/dist/bin.js start --pool P --name soak-worker-i`).
 * A killed worker is restarted with the same name (a restarted replica keeps its identity). Every line a
 * worker writes goes through the secret scanner.
 */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  private readonly log: WriteStream | null;
  /** Exits we did not cause: `worker-2#1 exited with code 1`. */
  readonly unexpectedExits: string[] = [];
  kills = 0;
  private stopped: Promise<void> | null = null;

  constructor(private readonly o: WorkerPoolOptions) {
    this.log = o.logFile ? createWriteStream(o.logFile) : null;
    for (let i = 1; i <= o.count; i += 1) {
      this.slots.push({
        index: i,
        name: `soak-worker-${i}`,
        child: null,
        starts: 0,
        expectExit: false,
        restartTimer: null,
        exited: Promise.resolve(),
      });
    }
  }

  get names(): string[] {
    return this.slots.map((s) => s.name);
  }

  get starts(): number {
    return this.slots.reduce((n, s) => n + s.starts, 0);
  }

  startAll(): void {
    for (const s of this.slots) this.start(s);
  }

  private start(slot: Slot): void {
    if (slot.child || this.stopped) return;
    slot.starts += 1;
    slot.expectExit = false;
    const source = `${slot.name}#${slot.starts}`;
    const child = spawn(process.execPath, [this.o.bin, 'start', '--pool', this.o.pool, '--name', slot.name], {
      cwd: this.o.cwd,
      env: this.o.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    slot.child = child;
    const onData = (stream: string) => (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      this.o.scanner.feed(`${source} ${stream}`, text);
      this.log?.write(
        text
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => `${source} ${l}\n`)
          .join(''),
      );
    };
    child.stdout?.on('data', onData('stdout'));
    child.stderr?.on('data', onData('stderr'));
    slot.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.o.scanner.end(`${source} stdout`);
        this.o.scanner.end(`${source} stderr`);
        if (slot.child === child) slot.child = null;
        if (!slot.expectExit) {
          this.unexpectedExits.push(`${source} exited on its own (code ${code}, signal ${signal})`);
          this.o.onEvent?.(`${source} exited on its own (code ${code}, signal ${signal}); restarting it`);
          slot.restartTimer = setTimeout(() => {
            slot.restartTimer = null;
            this.start(slot);
          }, 500);
        }
        resolve();
      });
    });
  }

  /** The running worker of that name, if any. */
  isAlive(name: string): boolean {
    return this.slots.some((s) => s.name === name && s.child !== null);
  }

  alive(): string[] {
    return this.slots.filter((s) => s.child !== null).map((s) => s.name);
  }

  /** `kill -9` the named worker; restart it after `restartAfterMs`. False when it was not running. */
  kill(name: string, restartAfterMs: number): boolean {
    const slot = this.slots.find((s) => s.name === name);
    if (!slot?.child) return false;
    slot.expectExit = true;
    slot.child.kill('SIGKILL');
    slot.child = null;
    this.kills += 1;
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      this.start(slot);
    }, restartAfterMs);
    return true;
  }

  /** Starts every worker that is down now (pending restarts happen at once). */
  reviveAll(): void {
    for (const s of this.slots) {
      if (s.restartTimer) {
        clearTimeout(s.restartTimer);
        s.restartTimer = null;
      }
      if (!s.child) this.start(s);
    }
  }

  /** SIGTERM every worker (SIGKILL after `graceMs`) and waits for them. */
  stopAll(graceMs = 15_000): Promise<void> {
    this.stopped ??= this.stop(graceMs);
    return this.stopped;
  }

  private async stop(graceMs: number): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const s of this.slots) {
      if (s.restartTimer) clearTimeout(s.restartTimer);
      s.restartTimer = null;
      const child = s.child;
      if (!child) continue;
      s.expectExit = true;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      waits.push(s.exited.then(() => clearTimeout(timer)));
    }
    await Promise.all(waits);
    await new Promise<void>((resolve) => (this.log ? this.log.end(resolve) : resolve()));
  }
}

import { createHash } from 'node:crypto';

/**
 * The invariants of the fault suite, checked over the emulators' records once the soak has drained.
 * Pure functions over plain data, so they are unit-tested apart from the emulators.
 */

export const TERMINAL_STATES: ReadonlySet<string> = new Set(['COMPLETED', 'FAILED', 'CRASHED', 'CANCELLED']);

export interface RunRecord {
  id: string;
  name: string;
  /** Current state type (SCHEDULED, PENDING, RUNNING, COMPLETED…). */
  state: string;
  stateName: string;
  /** Every state the run has had, oldest first. */
  history: readonly { id: string; type: string; name: string }[];
}

export interface TaskRecord {
  arn: string;
  /** The `prefect.io/flow-run-id` tag. */
  flowRunId: string | undefined;
  lastStatus: string;
  /** The RunTask clientToken that started it. */
  clientToken: string | undefined;
  /** `stopCode: stoppedReason` once stopped (for the violation messages). */
  stopped?: string;
}

export interface SecretFinding {
  /** Which log: `worker-1#2` (worker 1, second process), `flow-run-logs`. */
  source: string;
  /** Which secret (its name, never its value). */
  secret: string;
  /** The line, with the secret's value masked. */
  line: string;
}

export interface InvariantResult {
  name: string;
  held: boolean;
  /** What was checked (e.g. "120 runs"). */
  checked: string;
  /** At most 20, then a count. */
  violations: string[];
}

const MAX_LISTED = 20;

function result(name: string, checked: string, violations: string[]): InvariantResult {
  const listed = violations.slice(0, MAX_LISTED);
  if (violations.length > MAX_LISTED) listed.push(`… and ${violations.length - MAX_LISTED} more`);
  return { name, held: violations.length === 0, checked, violations: listed };
}

/**
 * The RunTask clientToken of a launch attempt, as `@stevedore/ecs-launcher`'s `runTaskClientToken` computes
 * it: SHA-256 of `stevedore:run-task:<flowRunId>:<pendingStateId>` (round 1), `…#<round>` after ECS answered
 * with failures. Recomputed here from the documented recipe rather than imported, so the checker is an
 * independent reading of what "one attempt" means.
 */
export function attemptToken(flowRunId: string, pendingStateId: string, round: number): string {
  const key = `${flowRunId}:${pendingStateId}`;
  const material = round === 1 ? `stevedore:run-task:${key}` : `stevedore:run-task:${key}#${round}`;
  return createHash('sha256').update(material).digest('hex');
}

/** How many RunTask rounds of one attempt the checker recognises (rounds after `failures` answers). */
const MAX_ROUNDS = 20;
/** Backoff retries per capacity-ladder rung the checker recognises. */
const LADDER_RETRIES = 6;

/**
 * Every run launched at most once per attempt. An attempt is a claim: a PENDING state of the run's history
 * (its id is part of the kernel's attemptKey). Each task is matched to the attempt whose token started it;
 * two tasks of one attempt, or a task whose token belongs to no attempt of its run, are violations.
 */
export function launchedAtMostOncePerAttempt(
  runs: readonly RunRecord[],
  tasks: readonly TaskRecord[],
): InvariantResult {
  const violations: string[] = [];
  const tokensByRun = new Map<string, Map<string, string>>();
  for (const run of runs) {
    const tokens = new Map<string, string>();
    for (const s of run.history) {
      if (s.type !== 'PENDING') continue;
      for (let round = 1; round <= MAX_ROUNDS; round += 1)
        tokens.set(attemptToken(run.id, s.id, round), s.id);
      // The capacity ladder's keys (ecs-launcher): `<claim>:<launch type>` per rung, `#capacity-retry-<n>` per
      // backoff retry on a rung; each runs at most the reference's three rounds.
      for (const rung of ['', ':FARGATE', ':FARGATE_SPOT', ':EC2'])
        for (let retry = 1; retry <= LADDER_RETRIES; retry += 1) {
          if (rung === '' && retry === 1) continue;
          const suffix = `${rung}${retry === 1 ? '' : `#capacity-retry-${retry}`}`;
          for (let round = 1; round <= 3; round += 1)
            tokens.set(attemptToken(run.id, `${s.id}${suffix}`, round), s.id);
        }
    }
    tokensByRun.set(run.id, tokens);
  }
  const perAttempt = new Map<string, string[]>();
  let attempts = 0;
  for (const task of tasks) {
    if (!task.flowRunId) {
      violations.push(`task ${task.arn} has no prefect.io/flow-run-id tag`);
      continue;
    }
    const tokens = tokensByRun.get(task.flowRunId);
    if (!tokens) {
      violations.push(`task ${task.arn} names flow run ${task.flowRunId}, which the soak did not seed`);
      continue;
    }
    const attempt = task.clientToken === undefined ? undefined : tokens.get(task.clientToken);
    if (attempt === undefined) {
      violations.push(
        `task ${task.arn} of flow run ${task.flowRunId} was started by a RunTask whose clientToken matches no claim (PENDING state) of the run`,
      );
      continue;
    }
    const key = `${task.flowRunId}:${attempt}`;
    const list = perAttempt.get(key) ?? [];
    if (list.length === 0) attempts += 1;
    list.push(task.arn);
    perAttempt.set(key, list);
  }
  for (const [key, arns] of perAttempt) {
    if (arns.length > 1)
      violations.push(
        `attempt ${key} (flow run:pending state) launched ${arns.length} tasks: ${arns.join(', ')}`,
      );
  }
  return result(
    'every run launched at most once per attempt',
    `${tasks.length} tasks, ${attempts} attempts, ${runs.length} runs`,
    violations,
  );
}

/**
 * Every run reaches a terminal state, or is legitimately still running: not terminal but with a task of
 * its own that has not stopped. A Scheduled run nobody took, a Pending run with no live task (a claim
 * lost), a Running run whose task stopped without the run being told, are violations.
 */
export function everyRunTerminalOrRunning(
  runs: readonly RunRecord[],
  tasks: readonly TaskRecord[],
): InvariantResult {
  const live = new Set(tasks.filter((t) => t.lastStatus !== 'STOPPED').map((t) => t.flowRunId));
  const violations: string[] = [];
  let terminal = 0;
  let running = 0;
  for (const run of runs) {
    if (TERMINAL_STATES.has(run.state)) terminal += 1;
    else if (live.has(run.id)) running += 1;
    else {
      const own = tasks.filter((t) => t.flowRunId === run.id);
      const how = own.map((t) => `${t.arn.split('/').pop()} ${t.stopped ?? t.lastStatus}`).join('; ');
      violations.push(
        `flow run ${run.name} (${run.id}) is ${run.state} '${run.stateName}' with no live task (${own.length} task(s) launched, all stopped${how ? `: ${how}` : ''}); states: ${run.history.map((s) => s.name).join(' → ')}`,
      );
    }
  }
  return result(
    'every run terminal or legitimately still running',
    `${runs.length} runs: ${terminal} terminal, ${running} still running`,
    violations,
  );
}

/** No task left running (not STOPPED) for a run that reached a terminal state. */
export function noTaskRunningForFinishedRun(
  runs: readonly RunRecord[],
  tasks: readonly TaskRecord[],
): InvariantResult {
  const byId = new Map(runs.map((r) => [r.id, r]));
  const violations: string[] = [];
  for (const task of tasks) {
    if (task.lastStatus === 'STOPPED' || !task.flowRunId) continue;
    const run = byId.get(task.flowRunId);
    if (run && TERMINAL_STATES.has(run.state))
      violations.push(`task ${task.arn} is ${task.lastStatus} but its flow run ${run.name} is ${run.state}`);
  }
  return result('no task left running for a finished run', `${tasks.length} tasks`, violations);
}

/** Scans log text for secret values, line by line; keeps what it found with the value masked. */
export class SecretScanner {
  readonly findings: SecretFinding[] = [];
  lines = 0;
  private readonly partial = new Map<string, string>();

  constructor(private readonly secrets: Readonly<Record<string, string>>) {
    for (const [name, value] of Object.entries(secrets)) {
      if (value.length < 8) throw new Error(`secret ${name} is too short to scan for reliably`);
    }
  }

  /** Feeds a chunk of a stream; lines are cut at newlines (a line split across chunks is joined). */
  feed(source: string, chunk: string): void {
    const text = (this.partial.get(source) ?? '') + chunk;
    const lines = text.split('\n');
    this.partial.set(source, lines.pop() ?? '');
    for (const line of lines) this.scanLine(source, line);
  }

  /** Scans what is left of a stream that ended without a newline. */
  end(source: string): void {
    const rest = this.partial.get(source);
    this.partial.delete(source);
    if (rest) this.scanLine(source, rest);
  }

  scanLine(source: string, line: string): void {
    this.lines += 1;
    for (const [name, value] of Object.entries(this.secrets)) {
      if (line.includes(value)) {
        this.findings.push({ source, secret: name, line: line.split(value).join('***').slice(0, 300) });
      }
    }
  }
}

export function noSecretInLogs(scanner: SecretScanner): InvariantResult {
  return result(
    'no secret in any log line',
    `${scanner.lines} log lines`,
    scanner.findings.map((f) => `${f.secret} in ${f.source}: ${f.line}`),
  );
}

export function checkInvariants(
  runs: readonly RunRecord[],
  tasks: readonly TaskRecord[],
  scanner: SecretScanner,
): InvariantResult[] {
  return [
    launchedAtMostOncePerAttempt(runs, tasks),
    everyRunTerminalOrRunning(runs, tasks),
    noTaskRunningForFinishedRun(runs, tasks),
    noSecretInLogs(scanner),
  ];
}

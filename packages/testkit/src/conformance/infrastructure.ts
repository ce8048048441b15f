import { type FlowRunJob, type Infrastructure, isStevedoreError, kernelErrorCodes } from '@stevedore/kernel';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** What an infrastructure conformance run needs. @public */
export interface InfrastructureFixture {
  infrastructure: Infrastructure;
  /** Builds a job for a fresh flow run; `attemptKey` may be overridden. */
  makeJob(overrides?: { attemptKey?: string }): FlowRunJob | Promise<FlowRunJob>;
  /** An identifier of this infrastructure type that does not exist. */
  unknownIdentifier: string;
  /** Optional check of the identifier format, e.g. /^[^:]+::arn:aws:ecs:/ for ECS. */
  identifierPattern?: RegExp;
  /** How many launches the backing service has recorded for an attempt key. */
  launchCount?(attemptKey: string): number | Promise<number>;
  cleanup?: () => Promise<void>;
}

/**
 * The contract every {@link Infrastructure} keeps: a usable default base job template, a stable
 * identifier, no launch twice for one attempt, kill semantics with the kernel's error codes, abort honoured.
 * @public
 */
export function describeInfrastructureConformance(
  name: string,
  setup: () => Promise<InfrastructureFixture>,
): void {
  describe(`Infrastructure conformance: ${name}`, () => {
    let f: InfrastructureFixture;
    beforeAll(async () => {
      f = await setup();
    });
    afterAll(async () => {
      await f?.cleanup?.();
    });
    const signal = () => AbortSignal.timeout(20_000);
    const server = { version: '3.4.11', major: 3 as const, isCloud: false };

    it('has a work-pool type and a default base job template with the base fields', () => {
      expect(f.infrastructure.type).toMatch(/^[a-z][a-z0-9:-]*$/);
      const t = f.infrastructure.defaultBaseJobTemplate({ server });
      expect(t.job_configuration).toBeTypeOf('object');
      expect(t.variables.properties).toBeTypeOf('object');
      for (const key of ['command', 'env', 'labels', 'name']) expect(t.job_configuration).toHaveProperty(key);
    });
    it('returns a fresh template each time', () => {
      const a = f.infrastructure.defaultBaseJobTemplate({ server });
      (a.job_configuration as Record<string, unknown>).__mutated = true;
      expect(f.infrastructure.defaultBaseJobTemplate({ server }).job_configuration).not.toHaveProperty(
        '__mutated',
      );
    });
    it('submits and returns a stable identifier', async () => {
      const job = await f.makeJob();
      const { identifier } = await f.infrastructure.submit(job, { signal: signal() });
      expect(identifier).toBeTypeOf('string');
      expect(identifier.length).toBeGreaterThan(0);
      if (f.identifierPattern) expect(identifier).toMatch(f.identifierPattern);
    });
    it('never launches twice for one attempt key', async () => {
      const job = await f.makeJob();
      const a = await f.infrastructure.submit(job, { signal: signal() });
      const b = await f.infrastructure.submit(job, { signal: signal() });
      expect(b.identifier).toBe(a.identifier);
      if (f.launchCount) expect(await f.launchCount(job.attemptKey)).toBe(1);
    });
    it('launches separately for different attempts', async () => {
      const a = await f.infrastructure.submit(await f.makeJob(), { signal: signal() });
      const b = await f.infrastructure.submit(await f.makeJob(), { signal: signal() });
      expect(b.identifier).not.toBe(a.identifier);
    });
    it('kills what it launched, then reports it as not found', async () => {
      const { identifier } = await f.infrastructure.submit(await f.makeJob(), { signal: signal() });
      await f.infrastructure.kill(identifier, { signal: signal(), gracePeriodSeconds: 0 });
      const again = await f.infrastructure.kill(identifier, { signal: signal(), gracePeriodSeconds: 0 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      // Some providers accept a second stop of a stopped task; if they reject, it must be NOT_FOUND.
      if (again !== undefined)
        expect(isStevedoreError(again, kernelErrorCodes.INFRASTRUCTURE_NOT_FOUND)).toBe(true);
    });
    it('reports an unknown identifier as KERNEL_INFRASTRUCTURE_NOT_FOUND or _NOT_AVAILABLE', async () => {
      const e = await f.infrastructure
        .kill(f.unknownIdentifier, { signal: signal(), gracePeriodSeconds: 0 })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(
        isStevedoreError(e, kernelErrorCodes.INFRASTRUCTURE_NOT_FOUND) ||
          isStevedoreError(e, kernelErrorCodes.INFRASTRUCTURE_NOT_AVAILABLE),
      ).toBe(true);
    });
    it('rejects a submission whose signal is already aborted', async () => {
      const ac = new AbortController();
      ac.abort(new Error('stop'));
      await expect(f.infrastructure.submit(await f.makeJob(), { signal: ac.signal })).rejects.toThrow();
    });
  });
}

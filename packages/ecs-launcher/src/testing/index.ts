/**
 * `@stevedore/ecs-launcher/testing`: the {@link LaunchType} conformance suite for plugin authors (vitest).
 * @packageDocumentation
 */
import { describe, expect, it } from 'vitest';
import type { Doc } from '../documents.js';
import { parseEcsJobConfiguration } from '../job-configuration.js';
import { type LaunchType, LaunchTypes, type RunTaskFailureInfo } from '../launch-type.js';
import { prepareRunTaskRequest } from '../run-task.js';

/** Options of {@link launchTypeConformance}. @public */
export interface LaunchTypeConformanceOptions {
  /** Builds the launch type under test (a fresh one per test). */
  make: () => LaunchType;
  /** `failures[]` answers of RunTask the launch type must classify (each must get a class). */
  capacityFailures?: ReadonlyArray<readonly RunTaskFailureInfo[]>;
}

/** RunTask failures that are the user's or nobody's capacity: a launch type must never classify them. */
const NOT_CAPACITY: ReadonlyArray<readonly RunTaskFailureInfo[]> = [
  [],
  [{ reason: 'AGENT' }],
  [{ reason: 'MISSING_TASK_DEFINITION' }],
  [{ reason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s): not found' }],
  [{ reason: 'AccessDeniedException: User is not authorized to perform: iam:PassRole' }],
];

function prepare(launchType: LaunchType, taskRunRequest: Doc) {
  const config = parseEcsJobConfiguration({
    task_definition: { containerDefinitions: [{ name: 'prefect' }] },
    task_run_request: taskRunRequest,
    command: 'prefect flow-run execute',
    env: {},
    labels: {},
    name: 'conformance',
  });
  return prepareRunTaskRequest({
    config,
    taskDefinition: {},
    taskDefinitionArn: 'arn:aws:ecs:us-east-1:123456789012:task-definition/prefect:1',
    networkConfiguration: undefined,
    newlyRegistered: false,
    launchType,
  }).request as unknown as Doc;
}

/**
 * Registers vitest tests every {@link LaunchType} must pass: a valid name and package, selectable by name, a
 * RunTask request ECS accepts (never both `launchType` and a strategy), a user-supplied strategy passed through
 * untouched, deterministic shaping, no classification of failures that are not capacity, the given capacity
 * failures classified, and fallbacks that name another launch type.
 * @public
 */
export function launchTypeConformance(title: string, options: LaunchTypeConformanceOptions): void {
  const { make } = options;
  describe(`LaunchType conformance: ${title}`, () => {
    it('has an upper-case name and names its package', () => {
      const t = make();
      expect(t.name).toMatch(/^[A-Z][A-Z0-9_]*$/);
      expect(t.packageName).toMatch(/^(@[a-z0-9-]+\/)?[a-z0-9-]+$/);
    });
    it('is selected by its name among the active launch types', () => {
      const t = make();
      expect(new LaunchTypes([t]).select({ launchType: t.name }, {})).toBe(t);
    });
    it('shapes a request ECS accepts: never both launchType and capacityProviderStrategy', () => {
      const t = make();
      const request = prepare(t, { launchType: t.name });
      expect('launchType' in request && 'capacityProviderStrategy' in request).toBe(false);
      expect(prepare(make(), { launchType: t.name })).toEqual(request);
    });
    it('passes a user-supplied capacity provider strategy through untouched', () => {
      const t = make();
      const mine = [{ capacityProvider: 'my-provider', weight: 2, base: 1 }];
      const request = prepare(t, { launchType: t.name, capacityProviderStrategy: mine });
      expect(request.capacityProviderStrategy).toEqual(mine);
      expect(request).not.toHaveProperty('launchType');
    });
    it('never classifies failures that are not capacity', () => {
      const t = make();
      for (const failures of NOT_CAPACITY) expect(t.classifyRunTaskFailure?.(failures)).toBeUndefined();
    });
    it('classifies its capacity failures, and falls back only to another launch type', () => {
      const t = make();
      for (const failures of options.capacityFailures ?? []) {
        const cls = t.classifyRunTaskFailure?.(failures);
        expect(cls, JSON.stringify(failures)).toEqual(expect.any(String));
        const fallback = t.capacityFallback?.(cls as string);
        if (fallback !== undefined) expect(fallback).not.toBe(t.name);
      }
    });
  });
}

/**
 * An in-process Prefect server emulator for integration tests of the worker.
 *
 * ```ts
 * const prefect = await startPrefectEmulator({ mode: '3' });
 * prefect.seedWorkPool({ name: 'ecs-pool' });
 * const flow = prefect.seedFlow({ name: 'etl' });
 * const deployment = prefect.seedDeployment({ flow_id: flow.id, name: 'nightly', work_pool_name: 'ecs-pool' });
 * const run = prefect.seedFlowRun({ flow_id: flow.id, deployment_id: deployment.id });
 * // ... point the worker at prefect.url, let it poll and claim ...
 * expect(prefect.getFlowRun(run.id)?.infrastructure_pid).toMatch(/::arn:aws:ecs/);
 * expect(prefect.schemaErrors()).toEqual([]);
 * await prefect.stop();
 * ```
 *
 * Every request body is validated against the mode's OpenAPI document (invalid → 422 in the server's
 * shape) and every response is checked against the documented schema, strictly; failures are listed by
 * `schemaErrors()` and on each entry of `requests`.
 */
export type { EventsStream, EventsStreamStats, ReceivedEventJson } from './events.js';
export { type PrefectEmulator, startPrefectEmulator } from './server.js';
export type {
  BlockDocumentJson,
  DeploymentJson,
  FaultController,
  FaultHandle,
  FaultRequestInfo,
  FaultRule,
  FlowJson,
  FlowRunJson,
  FlowRunPolicyJson,
  JsonObject,
  JsonValue,
  LogJson,
  OrchestrationResultJson,
  OrchestrationScript,
  PrefectEmulatorOptions,
  PrefectMode,
  ProposedStateInput,
  RecordedRequest,
  SchemaIssue,
  SeedBlockDocumentInput,
  SeedDeploymentInput,
  SeedFlowInput,
  SeedFlowRunInput,
  SeedVariableInput,
  SeedWorkPoolInput,
  SeedWorkQueueInput,
  SetStateStatus,
  StateDetailsInput,
  StateDetailsJson,
  StateJson,
  StateType,
  ValidationIssue,
  VariableJson,
  WorkerJson,
  WorkPoolJson,
  WorkQueueJson,
} from './types.js';
export { STATE_TYPES } from './types.js';

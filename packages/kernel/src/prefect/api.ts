import type {
  BaseJobTemplate,
  BlockDocument,
  Deployment,
  Flow,
  FlowRun,
  FlowRunFilterBody,
  OrchestrationResult,
  PoolWorker,
  PrefectLog,
  ServerInfo,
  State,
  WorkerFlowRunResponse,
  WorkPool,
} from './types.js';

/** Options accepted by every API call. @public */
export interface CallOptions {
  signal?: AbortSignal;
  /**
   * Retries of this call (default: the client's `maxRetries`). 0 for a proposal that must not land late: a retried
   * request whose first answer was lost can be applied after the run has moved on.
   */
  retries?: number;
}

/**
 * The Prefect REST calls the worker makes (spec §5), one method each. The default implementation is
 * {@link createPrefectClient}; tests may substitute their own.
 *
 * Conventions: 404 rejects with code `KERNEL_PREFECT_OBJECT_NOT_FOUND`, 409 with
 * `KERNEL_PREFECT_OBJECT_EXISTS`, other HTTP errors with `KERNEL_PREFECT_API` (a {@link PrefectApiError}
 * carrying `status`), transport failures after retries with `KERNEL_PREFECT_UNREACHABLE` (status 0).
 * @public
 */
export interface PrefectApi {
  readonly apiUrl: string;
  /** `GET /admin/version`, falling back to the `X-Prefect-Api-Version`-era `GET /version`. */
  serverInfo(opts?: CallOptions): Promise<ServerInfo>;
  readWorkPool(name: string, opts?: CallOptions): Promise<WorkPool>;
  createWorkPool(
    body: { name: string; type: string; base_job_template?: BaseJobTemplate },
    opts?: CallOptions,
  ): Promise<WorkPool>;
  updateWorkPool(
    name: string,
    body: { base_job_template: BaseJobTemplate },
    opts?: CallOptions,
  ): Promise<void>;
  /** Returns the worker id when the server sent one (Cloud with `return_id`). */
  heartbeat(
    pool: string,
    body: {
      name: string;
      heartbeat_interval_seconds: number;
      return_id?: boolean;
      metadata?: Record<string, unknown>;
    },
    opts?: CallOptions,
  ): Promise<string | undefined>;
  getScheduledFlowRuns(
    pool: string,
    body: { work_queue_names: string[]; scheduled_before: string; scheduled_after?: string; limit?: number },
    opts?: CallOptions,
  ): Promise<WorkerFlowRunResponse[]>;
  readDeployment(id: string, opts?: CallOptions): Promise<Deployment>;
  /** `GET /deployments/name/{flow_name}/{deployment_name}`. */
  readDeploymentByName(flowName: string, deploymentName: string, opts?: CallOptions): Promise<Deployment>;
  readFlow(id: string, opts?: CallOptions): Promise<Flow>;
  readFlowRun(id: string, opts?: CallOptions): Promise<FlowRun>;
  filterFlowRuns(body: FlowRunFilterBody, opts?: CallOptions): Promise<FlowRun[]>;
  setFlowRunState(
    id: string,
    body: { state: Partial<State> & { type: State['type'] }; force?: boolean },
    opts?: CallOptions,
  ): Promise<OrchestrationResult>;
  /** `PATCH /flow_runs/{id}/labels` (Prefect 3 only). */
  updateFlowRunLabels(id: string, labels: Record<string, string>, opts?: CallOptions): Promise<void>;
  /** `PATCH /flow_runs/{id}` with only `infrastructure_pid`. */
  setInfrastructurePid(id: string, pid: string, opts?: CallOptions): Promise<void>;
  readBlockDocument(id: string, opts?: CallOptions): Promise<BlockDocument>;
  readBlockDocumentByName(blockTypeSlug: string, name: string, opts?: CallOptions): Promise<BlockDocument>;
  /** `GET /variables/name/{name}`; `{ found: false }` when the variable does not exist. */
  readVariableValue(name: string, opts?: CallOptions): Promise<{ found: boolean; value: unknown }>;
  createLogs(logs: PrefectLog[], opts?: CallOptions): Promise<void>;
  /** `POST /work_pools/{name}/workers/filter`: the pool's workers and their last heartbeats. */
  filterWorkers(
    pool: string,
    body: { limit?: number; offset?: number },
    opts?: CallOptions,
  ): Promise<PoolWorker[]>;
  /** `GET /flow_run_states/?flow_run_id=…`: a run's state history, oldest first. */
  readFlowRunStates(flowRunId: string, opts?: CallOptions): Promise<State[]>;
}

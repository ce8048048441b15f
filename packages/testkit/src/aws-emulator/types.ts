/** Public types of the AWS emulator (ECS, EC2 and CloudWatch Logs on one local endpoint). */

/** A value in model form: what handlers produce before a protocol serialises it. */
export type ModelValue = string | number | boolean | Date | Uint8Array | ModelValue[] | ModelObject;
export interface ModelObject {
  [key: string]: ModelValue;
}

export type AwsJsonValue = string | number | boolean | null | AwsJsonValue[] | AwsJsonObject;
export interface AwsJsonObject {
  [key: string]: AwsJsonValue;
}

export type AwsServiceName = 'ecs' | 'ec2' | 'logs';

export interface SchemaIssueDetail {
  /** Member path, e.g. `tasks[0].containers[1].exitCode`. */
  path: string;
  message: string;
  keyword: string;
}

/** A problem with the emulator itself: tests expect none (`schemaErrors()` → `[]`). */
export interface AwsSchemaIssue {
  /** `response`: an answer that does not match the model; `unimplemented`: an operation the model has but the emulator does not; `emulator-error`: a handler threw. */
  kind: 'response' | 'unimplemented' | 'emulator-error';
  service: AwsServiceName;
  operation: string;
  errors: SchemaIssueDetail[];
}

export interface AwsRecordedRequest {
  seq: number;
  service: AwsServiceName | null;
  /** e.g. `RunTask`; null when the request named no operation the emulator could read. */
  operation: string | null;
  /** The request as decoded (JSON body, or the EC2 query parameters as a flat object). */
  input: AwsJsonObject | undefined;
  /** Null when the connection was dropped before an answer. */
  status: number | null;
  /** The AWS error code answered, if any (`ThrottlingException`, `InvalidParameterException`…). */
  errorCode: string | null;
  requestErrors: SchemaIssueDetail[];
  responseErrors: SchemaIssueDetail[];
  /** Names of the injected faults that shaped this request. */
  fault: string | null;
  throttled: boolean;
  /** The response was computed (and its effects committed) but the connection was destroyed. */
  responseLost: boolean;
  startedAt: number;
  durationMs: number;
}

// ----------------------------------------------------------------------------------------- throttling

/** A token bucket: `burst` tokens at most, refilled at `ratePerSecond`. */
export interface TokenBucketQuota {
  burst: number;
  ratePerSecond: number;
}

export interface AwsQuotaOptions {
  /** Default true. When false, no operation is throttled by quota (injected throttling still applies). */
  enforce?: boolean;
  /** Per operation, keyed `ecs:RunTask`, `ec2:DescribeVpcs`, `logs:GetLogEvents`… */
  overrides?: Record<string, TokenBucketQuota>;
}

// ----------------------------------------------------------------------------------------------- faults

export interface AwsFaultRequestInfo {
  service: AwsServiceName;
  operation: string;
  input: AwsJsonObject | undefined;
}

export interface AwsFaultRule {
  name?: string;
  /** `ecs:RunTask`, or a bare operation name (`RunTask`), or a list of either. Default: every operation. */
  operation?: string | string[];
  service?: AwsServiceName;
  when?: (info: AwsFaultRequestInfo) => boolean;
  /** How many requests it applies to (default: unlimited). */
  times?: number;
  /** Probability it fires for a matching request (default 1), drawn from the seeded PRNG. */
  probability?: number;
  /** Added latency before the request is handled. */
  latencyMs?: number;
  /**
   * Answer with this AWS error instead of handling the request. `status` defaults to 400 (500 for
   * `ServerException`, `InternalFailure`, `InternalError`, `ServiceUnavailable*`, 503 for EC2's
   * `RequestLimitExceeded` and `Unavailable`).
   */
  error?: { code: string; message?: string; status?: number };
  /**
   * `before`: destroy the connection without handling the request; `after`: handle it (effects are
   * committed) and then destroy the connection, so the client never sees the answer.
   */
  drop?: 'before' | 'after';
}

export interface AwsFaultHandle {
  readonly name: string;
  hits(): number;
  remaining(): number;
  remove(): void;
}

export interface AwsFaultController {
  add(rule: AwsFaultRule): AwsFaultHandle;
  /** Answer `ThrottlingException` (JSON services) / `RequestLimitExceeded` (EC2) `times` times. */
  throttle(operation: string, times?: number): AwsFaultHandle;
  /** Answer a 5xx (`ServerException` for ECS, `ServiceUnavailableException` for Logs, `InternalError` for EC2). */
  serverError(operation: string, times?: number): AwsFaultHandle;
  /** Handle the request, then destroy the connection (`times` requests). */
  loseResponse(operation: string, times?: number): AwsFaultHandle;
  /** Latency added to every request (or to one operation). */
  setLatency(ms: number, operation?: string): void;
  /** Removes every rule and the latency; quotas are untouched. */
  clear(): void;
  /** Turn quota throttling on or off. */
  enforceQuotas(enabled: boolean): void;
  /** Replace one operation's token bucket (refilled to `burst`). */
  setQuota(operation: string, quota: TokenBucketQuota): void;
  /** The quota in force for every throttled operation. */
  quotas(): Record<string, TokenBucketQuota>;
}

// -------------------------------------------------------------------------------------------------- ECS

export type EcsTaskStatus =
  | 'PROVISIONING'
  | 'PENDING'
  | 'ACTIVATING'
  | 'RUNNING'
  | 'DEACTIVATING'
  | 'STOPPING'
  | 'DEPROVISIONING'
  | 'STOPPED';

export type EcsStopCode =
  | 'TaskFailedToStart'
  | 'EssentialContainerExited'
  | 'UserInitiated'
  | 'ServiceSchedulerInitiated'
  | 'SpotInterruption'
  | 'TerminationNotice';

export interface EcsKeyValue {
  name: string;
  value: string;
}

export interface EcsTag {
  key: string;
  value: string;
}

export interface EcsContainer {
  containerArn: string;
  taskArn: string;
  name: string;
  image?: string;
  lastStatus: string;
  exitCode?: number;
  reason?: string;
  runtimeId?: string;
  cpu?: string;
  memory?: string;
  networkInterfaces?: { attachmentId: string; privateIpv4Address: string }[];
}

/** A task as an `ECS Task State Change` event's `detail` carries it (ISO timestamps, `updatedAt`). */
export interface EcsTask {
  taskArn: string;
  clusterArn: string;
  taskDefinitionArn: string;
  lastStatus: EcsTaskStatus;
  desiredStatus: 'RUNNING' | 'STOPPED';
  containers: EcsContainer[];
  overrides: AwsJsonObject;
  tags?: EcsTag[];
  attachments?: AwsJsonObject[];
  availabilityZone?: string;
  capacityProviderName?: string;
  launchType?: string;
  cpu?: string;
  memory?: string;
  group?: string;
  startedBy?: string;
  platformVersion?: string;
  connectivity?: 'CONNECTED' | 'DISCONNECTED';
  connectivityAt?: string;
  createdAt: string;
  pullStartedAt?: string;
  pullStoppedAt?: string;
  startedAt?: string;
  stoppingAt?: string;
  executionStoppedAt?: string;
  stoppedAt?: string;
  updatedAt: string;
  stopCode?: EcsStopCode;
  stoppedReason?: string;
  enableExecuteCommand: boolean;
  version: number;
}

/** An EventBridge `ECS Task State Change` event, as an SQS queue subscribed to the rule would receive. */
export interface EcsTaskStateChangeEvent {
  version: '0';
  id: string;
  'detail-type': 'ECS Task State Change';
  source: 'aws.ecs';
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: EcsTask;
}

export interface EcsCapacityProviderStrategyItem {
  capacityProvider: string;
  weight?: number;
  base?: number;
}

export interface SeedClusterInput {
  name: string;
  /** Default `['FARGATE', 'FARGATE_SPOT']`. Other names are taken as Auto Scaling group providers. */
  capacityProviders?: string[];
  defaultCapacityProviderStrategy?: EcsCapacityProviderStrategyItem[];
  /** EC2 container instances registered (default 0: EC2 launch type tasks cannot be placed). */
  registeredContainerInstancesCount?: number;
  tags?: EcsTag[];
}

export interface EcsClusterInfo {
  clusterArn: string;
  clusterName: string;
  capacityProviders: string[];
  defaultCapacityProviderStrategy: EcsCapacityProviderStrategyItem[];
  registeredContainerInstancesCount: number;
}

/** A registered task definition as DescribeTaskDefinition returns it, timestamps as ISO strings. */
export interface EcsTaskDefinition {
  taskDefinitionArn: string;
  family: string;
  revision: number;
  status: 'ACTIVE' | 'INACTIVE' | 'DELETE_IN_PROGRESS';
  containerDefinitions: AwsJsonObject[];
  tags: EcsTag[];
  /** The whole description (every member RegisterTaskDefinition stored or ECS filled in). */
  definition: AwsJsonObject;
}

export type SimOutcome =
  | 'complete'
  | 'fail'
  | 'crash'
  | 'exit0-no-state'
  | 'oom'
  | 'image-pull'
  | 'fail-to-start'
  | 'spot-interruption'
  | 'hang';

export const SIM_OUTCOMES: readonly SimOutcome[] = [
  'complete',
  'fail',
  'crash',
  'exit0-no-state',
  'oom',
  'image-pull',
  'fail-to-start',
  'spot-interruption',
  'hang',
];

/** What one simulated task does. */
export interface TaskBehavior {
  outcome: SimOutcome;
  /** How long the container runs once RUNNING (default: `durations.runMs`). */
  runMs?: number;
  /** Exit code of the orchestration container (default per outcome: 0, 1, 137…). */
  exitCode?: number;
  /** Overrides the task's `stoppedReason`. */
  stoppedReason?: string;
  /** Overrides the orchestration container's `reason`. */
  containerReason?: string;
  /** Whether the simulated Prefect engine talks to the Prefect API (default true when the env names a flow run). */
  engine?: boolean;
}

/** The environment the orchestration container sees: definition env merged with the RunTask override. */
export type TaskBehaviorFn = (task: EcsTask, env: Record<string, string>) => TaskBehavior;

/** Durations of the lifecycle phases, in milliseconds. `null` skips an optional phase. */
export interface TaskDurations {
  provisioningMs: number;
  pendingMs: number;
  activatingMs: number | null;
  /** Default run time of a container (overridden by `STEVEDORE_SIM_RUN_MS` or the behavior's `runMs`). */
  runMs: number;
  deactivatingMs: number | null;
  stoppingMs: number | null;
  deprovisioningMs: number;
}

export interface RunTaskFailureInjection {
  /** e.g. `RESOURCE:CPU`, `RESOURCE:MEMORY`, `AGENT`, `Capacity is unavailable at this time. Please try again later or in a different availability zone`. */
  reason: string;
  detail?: string;
  /** Default: the cluster ARN (what ECS reports for placement failures). */
  arn?: string;
  /** How many RunTask calls answer with this failure (default 1). */
  times?: number;
  /** Only RunTask calls for this cluster (name or ARN). */
  cluster?: string;
}

export interface StartFailureInjection {
  /** Default `ResourceInitializationError: unable to pull secrets or registry auth: …`. */
  stoppedReason?: string;
  /** How many new tasks fail to start (default 1). */
  times?: number;
}

export interface EcsEmulatorApi {
  seedCluster(input: SeedClusterInput): EcsClusterInfo;
  clusters(): EcsClusterInfo[];
  /** Every task (optionally of one cluster, name or ARN), oldest first. */
  tasks(cluster?: string): EcsTask[];
  /** A task by ARN or id. */
  task(arnOrId: string): EcsTask | undefined;
  taskDefinitions(): EcsTaskDefinition[];
  /** By ARN, `family` (latest ACTIVE) or `family:revision`. */
  taskDefinition(ref: string): EcsTaskDefinition | undefined;
  /** The environment the orchestration container of a task sees. */
  taskEnvironment(arnOrId: string): Record<string, string> | undefined;
  injectRunTaskFailure(failure: RunTaskFailureInjection): AwsFaultHandle;
  /** The next task(s) stop with `TaskFailedToStart` before any container starts. */
  injectStartFailure(failure?: StartFailureInjection): AwsFaultHandle;
  /** RegisterTaskDefinition answers `ClientException: Too many concurrent attempts…` `times` times. */
  injectRegisterConflict(times?: number): AwsFaultHandle;
  /** Stops a running task as Fargate Spot does: stopCode `SpotInterruption`, no exit code. */
  interruptSpot(taskArn: string): void;
  /** Stops a task as StopTask does (stopCode `UserInitiated`). */
  stopTask(taskArn: string, reason?: string): void;
  setBehavior(behavior: TaskBehaviorFn): void;
  /** Resolves when the task satisfies `until` (default: STOPPED); rejects after `timeoutMs` (default 10 s). */
  waitForTask(
    arnOrId: string,
    until?: EcsTaskStatus | ((task: EcsTask) => boolean),
    timeoutMs?: number,
  ): Promise<EcsTask>;
}

// -------------------------------------------------------------------------------------------------- EC2

export interface Ec2Tag {
  Key: string;
  Value: string;
}

export interface SeedVpcInput {
  vpcId?: string;
  cidrBlock?: string;
  isDefault?: boolean;
  tags?: Ec2Tag[];
}

export interface Ec2Vpc {
  VpcId: string;
  CidrBlock: string;
  IsDefault: boolean;
  State: 'available';
  OwnerId: string;
  Tags: Ec2Tag[];
}

export interface SeedSubnetInput {
  vpcId: string;
  subnetId?: string;
  cidrBlock?: string;
  availabilityZone?: string;
  defaultForAz?: boolean;
  mapPublicIpOnLaunch?: boolean;
  tags?: Ec2Tag[];
}

export interface Ec2Subnet {
  SubnetId: string;
  SubnetArn: string;
  VpcId: string;
  CidrBlock: string;
  AvailabilityZone: string;
  AvailabilityZoneId: string;
  DefaultForAz: boolean;
  MapPublicIpOnLaunch: boolean;
  AvailableIpAddressCount: number;
  State: 'available';
  OwnerId: string;
  Tags: Ec2Tag[];
}

export interface SeedSecurityGroupInput {
  vpcId: string;
  groupId?: string;
  groupName: string;
  description?: string;
  tags?: Ec2Tag[];
}

export interface Ec2SecurityGroup {
  GroupId: string;
  GroupName: string;
  Description: string;
  VpcId: string;
  OwnerId: string;
  Tags: Ec2Tag[];
}

export interface Ec2EmulatorApi {
  seedVpc(input?: SeedVpcInput): Ec2Vpc;
  seedSubnet(input: SeedSubnetInput): Ec2Subnet;
  seedSecurityGroup(input: SeedSecurityGroupInput): Ec2SecurityGroup;
  /** Removes the default VPC with its subnets and security groups (an account without a default VPC). */
  removeDefaultVpc(): void;
  /** The default VPC's id, or null when there is none. */
  defaultVpcId(): string | null;
  vpcs(): Ec2Vpc[];
  subnets(vpcId?: string): Ec2Subnet[];
  securityGroups(vpcId?: string): Ec2SecurityGroup[];
}

// ------------------------------------------------------------------------------------------------- Logs

export interface LogEventJson {
  timestamp: number;
  message: string;
  ingestionTime: number;
}

export interface LogsEmulatorApi {
  /** The events of one stream, oldest first (empty when the group or stream does not exist). */
  events(group: string, stream: string): LogEventJson[];
  seedLogGroup(name: string): void;
  /** Appends events (creating the group and stream). */
  putEvents(group: string, stream: string, messages: string[]): void;
  groups(): string[];
  streams(group: string): string[];
}

// ------------------------------------------------------------------------------------------- emulator

export interface AwsEmulatorOptions {
  /** Default `us-east-1`. */
  region?: string;
  /** Default `123456789012`. */
  accountId?: string;
  /** Throttling quotas; `false` disables quota enforcement. */
  quotas?: AwsQuotaOptions | false;
  /** Chooses each task's outcome. Default: read `STEVEDORE_SIM_OUTCOME` / `STEVEDORE_SIM_RUN_MS` from the env. */
  behavior?: TaskBehaviorFn;
  durations?: Partial<TaskDurations>;
  /** The fetch the simulated engine uses to call the Prefect API (default: global fetch). */
  prefectFetch?: typeof fetch;
  /** Seed of the PRNG behind ids and fault probabilities (default: random). */
  seed?: number;
  /** Port to listen on (default 0: an ephemeral port). */
  port?: number;
}

export interface AwsEmulator {
  /** `http://127.0.0.1:<port>`: the endpoint of all three services. */
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  readonly accountId: string;
  readonly ecs: EcsEmulatorApi;
  readonly ec2: Ec2EmulatorApi;
  readonly logs: LogsEmulatorApi;
  readonly faults: AwsFaultController;
  /** Requests per operation, keyed `ecs:RunTask`… (every attempt counts, throttled ones included). */
  callCounts(): Record<string, number>;
  /** Every request received, in order (a copy). */
  readonly requests: AwsRecordedRequest[];
  /** Clears the request log and the call counts. */
  clearRequests(): void;
  /** Emulator defects: responses that break the model, unimplemented operations, handler crashes. */
  schemaErrors(): AwsSchemaIssue[];
  /** Subscribes to task state changes (one event per `version`); returns the unsubscribe function. */
  onTaskChange(listener: (event: EcsTaskStateChangeEvent) => void): () => void;
  stop(): Promise<void>;
}

export interface AwsClientConfig {
  region: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

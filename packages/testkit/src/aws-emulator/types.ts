/** Public types of the AWS emulator (ECS, EC2, CloudWatch Logs, SQS and EventBridge on one local endpoint). */

/** A value in model form: what handlers produce before a protocol serialises it. */
export type ModelValue = string | number | boolean | Date | Uint8Array | ModelValue[] | ModelObject;
export interface ModelObject {
  [key: string]: ModelValue;
}

export type AwsJsonValue = string | number | boolean | null | AwsJsonValue[] | AwsJsonObject;
export interface AwsJsonObject {
  [key: string]: AwsJsonValue;
}

export type AwsServiceName = 'ecs' | 'ec2' | 'logs' | 'sqs' | 'events' | 'sts' | 'iam' | 's3';

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
  /** `ecs:RunTask`, `sqs:ReceiveMessage`, `events:PutRule`, or a bare operation name (`RunTask`), or a list of either. Default: every operation. */
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
   * `ServerException`, `InternalFailure`, `InternalError`, `InternalException`, `ServiceUnavailable*`,
   * 503 for EC2's `RequestLimitExceeded` and `Unavailable`). SQS answers carry the awsQuery code of the
   * model's error (`QueueDoesNotExist` → `AWS.SimpleQueueService.NonExistentQueue`) in `x-amzn-query-error`.
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
  /** Answer `ThrottlingException` (ECS, Logs, EventBridge) / `RequestThrottled` (SQS) / `RequestLimitExceeded` (EC2) `times` times. */
  throttle(operation: string, times?: number): AwsFaultHandle;
  /** Answer a 5xx (`ServerException` for ECS, `ServiceUnavailableException` for Logs, `InternalError` for EC2, `InternalFailure` for SQS, `InternalException` for EventBridge). */
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
  /**
   * Simulated free capacity of those instances, summed (CPU units, MiB). When set, a `launchType: EC2` RunTask whose
   * task needs more than what running EC2 tasks leave free is answered as ECS does: no task, a `failures[]` entry per
   * container instance with reason `RESOURCE:MEMORY` (or `RESOURCE:CPU`). Unset: capacity is unlimited.
   * Grow it with `scaleOutEc2` (an Auto Scaling group adding instances).
   */
  ec2Capacity?: { cpu: number; memory: number };
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
  /**
   * Only RunTask calls that would place the task on this capacity: a capacity provider chosen from the strategy
   * (`FARGATE_SPOT`, an ASG provider's name) or, without a strategy, the launch type (`FARGATE`, `EC2`).
   */
  capacityProvider?: string;
}

export interface StartFailureInjection {
  /** Default `ResourceInitializationError: unable to pull secrets or registry auth: …`. */
  stoppedReason?: string;
  /** How many new tasks fail to start (default 1). */
  times?: number;
}

export interface EcsEmulatorApi {
  seedCluster(input: SeedClusterInput): EcsClusterInfo;
  /**
   * The cluster's Auto Scaling group adds `instances` container instances (default 1) with `cpu`/`memory` more
   * capacity in all (see {@link SeedClusterInput.ec2Capacity}).
   */
  scaleOutEc2(cluster: string, add: { cpu: number; memory: number; instances?: number }): EcsClusterInfo;
  clusters(): EcsClusterInfo[];
  /** Every task (optionally of one cluster, name or ARN), oldest first. */
  tasks(cluster?: string): EcsTask[];
  /**
   * Every task's ARN and statuses, oldest first: what `tasks()` says of them without building each task's whole
   * description (a harness checking thousands of tasks every few hundred milliseconds).
   */
  taskStatuses(): Array<{ taskArn: string; lastStatus: string; desiredStatus: string }>;
  /** A task by ARN or id. */
  task(arnOrId: string): EcsTask | undefined;
  taskDefinitions(): EcsTaskDefinition[];
  /** By ARN, `family` (latest ACTIVE) or `family:revision`. */
  taskDefinition(ref: string): EcsTaskDefinition | undefined;
  /** The environment the orchestration container of a task sees. */
  taskEnvironment(arnOrId: string): Record<string, string> | undefined;
  /**
   * The `clientToken` of the RunTask call that started each task, by task ARN (tasks started without a token
   * are absent). Lets a test tell the launch attempts of one flow run apart (the fault suite's "launched at
   * most once per attempt").
   */
  runTaskClientTokens(): Record<string, string>;
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

// -------------------------------------------------------------------------------------------------- SQS

export interface SqsEmulatorOptions {
  /**
   * How long a deleted queue's name stays unusable for CreateQueue (`QueueDeletedRecently`), in ms.
   * Default 60000, as SQS documents; `sqs.deleteQueue()` (the test helper) skips it.
   */
  deletedQueueCooldownMs?: number;
}

/** Message counts of one queue, as `ApproximateNumberOf*` would report them (exact here). */
export interface SqsQueueCounts {
  /** Receivable now. */
  visible: number;
  /** Received and not yet deleted, within their visibility timeout. */
  inFlight: number;
  /** Not yet receivable: `DelaySeconds`, or held back by an injected delay. */
  delayed: number;
  /** Held by an `injectReorder` fault, not in the queue yet. */
  held: number;
  total: number;
}

export interface SqsQueueState extends SqsQueueCounts {
  name: string;
  url: string;
  arn: string;
  /** The settable attributes as stored (`VisibilityTimeout`, `RedrivePolicy`, `Policy`…), strings. */
  attributes: Record<string, string>;
  tags: Record<string, string>;
  /** The redrive policy's dead-letter queue and its counts; null without a redrive policy. */
  dlq: (SqsQueueCounts & { name: string; arn: string; exists: boolean }) | null;
}

export interface SqsMessageView {
  messageId: string;
  body: string;
  state: 'visible' | 'in-flight' | 'delayed';
  /** `ApproximateReceiveCount`. */
  receiveCount: number;
  /** `SentTimestamp`, epoch ms. */
  sentAt: number;
  /** `ApproximateFirstReceiveTimestamp`, epoch ms. */
  firstReceivedAt?: number;
  /** When it becomes receivable (epoch ms); in the past when visible. */
  visibleAt: number;
  /** Set on messages a redrive moved to this (dead-letter) queue. */
  deadLetterQueueSourceArn?: string;
  messageAttributes: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }>;
}

/** Which new messages a fault applies to. */
export interface SqsMessageFaultFilter {
  /** Queue name (default: every queue). */
  queue?: string;
  /** Only messages whose body satisfies this (e.g. `(b) => b.includes('"lastStatus":"RUNNING"')`). */
  match?: (body: string) => boolean;
  /** How many messages it applies to (default 1). */
  times?: number;
}

export interface SqsEmulatorApi {
  /** A queue's state and counts (with its dead-letter queue's); undefined when it does not exist. */
  queue(name: string): SqsQueueState | undefined;
  queues(): SqsQueueState[];
  /** Every message of a queue (visible, in flight and delayed), in queue order. */
  messages(name: string): SqsMessageView[];
  /** Creates a queue as CreateQueue does (attributes as SQS takes them); returns its URL. */
  createQueue(name: string, attributes?: Record<string, string>, tags?: Record<string, string>): string;
  /** Sends a message as SendMessage does (faults apply); returns its MessageId. */
  send(queue: string, body: string, options?: { delaySeconds?: number }): string;
  /**
   * Puts `body` in the queue verbatim, unchecked (a malformed or non-JSON message, an empty body…);
   * returns its MessageId. Faults apply.
   */
  sendRaw(queue: string, body: string): string;
  /** Deletes a queue now, as DeleteQueue does (pending long polls answer `QueueDoesNotExist`), without the recreate cooldown. */
  deleteQueue(name: string): void;
  /** Removes every message of a queue. */
  purge(name: string): void;
  /** Each matching new message is enqueued `copies + 1` times with the same MessageId (at-least-once delivery). */
  injectDuplicate(filter?: SqsMessageFaultFilter & { copies?: number }): AwsFaultHandle;
  /** Each matching new message stays invisible for `delayMs`, so later messages overtake it. */
  injectDelay(filter: SqsMessageFaultFilter & { delayMs: number }): AwsFaultHandle;
  /**
   * Holds the next `count` matching messages and enqueues them in reverse order once `count` have
   * arrived (or after `maxHoldMs`, default 2000, with whatever was held).
   */
  injectReorder(
    filter: Omit<SqsMessageFaultFilter, 'times'> & { count: number; maxHoldMs?: number },
  ): AwsFaultHandle;
  /** Removes every SQS message fault. */
  clearFaults(): void;
}

// ------------------------------------------------------------------------------------------ EventBridge

export interface EventBridgeEmulatorOptions {
  /**
   * When true, an SQS target only receives an event if the queue's `Policy` allows `sqs:SendMessage` to
   * `events.amazonaws.com` (optionally conditioned on `aws:SourceArn`), as AWS requires. Default false:
   * every SQS target receives matching events.
   */
  enforceQueuePolicy?: boolean;
  /** Delay between an event being put and its delivery to targets, in ms (default 0: synchronous). */
  deliveryDelayMs?: number;
}

/** An event on the bus, as an SQS target receives it (the message Body is this JSON). */
export interface EventBridgeEvent {
  version: string;
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: AwsJsonObject;
}

export interface EventBridgeTargetView {
  Id: string;
  Arn: string;
  Input?: string;
  InputPath?: string;
  /** The other members PutTargets stored (InputTransformer, RoleArn, SqsParameters…). */
  [member: string]: AwsJsonValue | undefined;
}

export interface EventBridgeRuleView {
  name: string;
  arn: string;
  eventBusName: string;
  eventPattern?: string;
  scheduleExpression?: string;
  state: string;
  description?: string;
  targets: EventBridgeTargetView[];
  tags: Record<string, string>;
}

export interface EventBridgeDelivery {
  eventId: string;
  rule: string;
  targetId: string;
  targetArn: string;
  ok: boolean;
  /** Why it was not delivered (queue missing, policy denies, unsupported target type…). */
  error?: string;
  /** The SQS MessageId of the delivered message. */
  messageId?: string;
  at: number;
}

/** What `events.put()` takes: `detail-type`, `source` and `detail` at least; the rest is filled in. */
export type EventBridgeEventInput = Partial<EventBridgeEvent> & {
  source: string;
  'detail-type': string;
  detail?: AwsJsonObject;
};

export interface EventBridgeEmulatorApi {
  /** Every rule of the default bus with its targets and tags. */
  rules(): EventBridgeRuleView[];
  /** Puts an event on the default bus (any source, `aws.*` included); returns it and the rules it matched. */
  put(event: EventBridgeEventInput): { event: EventBridgeEvent; matchedRules: string[] };
  /** Every event put on the bus (ECS task state changes included), oldest first. */
  events(): EventBridgeEvent[];
  /** Every delivery attempt to a target, oldest first. */
  deliveries(): EventBridgeDelivery[];
  setDeliveryDelay(ms: number): void;
  enforceQueuePolicy(enabled: boolean): void;
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
  sqs?: SqsEmulatorOptions;
  eventBridge?: EventBridgeEmulatorOptions;
}

export interface AwsEmulator {
  /** `http://127.0.0.1:<port>`: the endpoint of every emulated service. */
  readonly endpoint: string;
  readonly port: number;
  readonly region: string;
  readonly accountId: string;
  readonly ecs: EcsEmulatorApi;
  readonly ec2: Ec2EmulatorApi;
  readonly logs: LogsEmulatorApi;
  readonly sqs: SqsEmulatorApi;
  /** EventBridge (the default event bus); ECS task state changes are put on it. */
  readonly events: EventBridgeEmulatorApi;
  /** S3 (REST, path-style): GetObject with ETags, HeadObject, HeadBucket, PutObject; real errors and region redirects. */
  readonly s3: S3EmulatorApi;
  /** STS and IAM (GetCallerIdentity, GetRole, SimulatePrincipalPolicy): what `stevedore doctor` checks. */
  readonly identity: IdentityEmulatorApi;
  readonly faults: AwsFaultController;
  /** Requests per operation, keyed `ecs:RunTask`… (every attempt counts, throttled ones included). */
  callCounts(): Record<string, number>;
  /** Every request received, in order (a copy). */
  readonly requests: AwsRecordedRequest[];
  /** Clears the request log and the call counts. */
  clearRequests(): void;
  /** Emulator defects: responses that break the model, unimplemented operations, handler crashes. */
  schemaErrors(): AwsSchemaIssue[];
  /**
   * Subscribes to task state changes (one event per `version`); returns the unsubscribe function. The same
   * events are put on the EventBridge default bus (`events`), where rules can route them to SQS.
   */
  onTaskChange(listener: (event: EcsTaskStateChangeEvent) => void): () => void;
  stop(): Promise<void>;
}

export interface AwsClientConfig {
  region: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/** Test controls of the STS/IAM emulation. @public */
export interface IdentityEmulatorApi {
  /** Creates an IAM role (GetRole finds it); returns its ARN. */
  seedRole(name: string, path?: string): string;
  /** Makes SimulatePrincipalPolicy answer `implicitDeny` for these actions. */
  deny(actions: readonly string[]): void;
  /** `denied`: the caller may not call iam:SimulatePrincipalPolicy (AccessDenied). */
  setSimulation(mode: 'allowed' | 'denied'): void;
  /** `invalid`: every STS/IAM call fails with InvalidClientTokenId, as with bad credentials. */
  setCredentials(mode: 'valid' | 'invalid'): void;
  readonly callerArn: string;
}

/** Test controls of the S3 emulation. @public */
export interface S3EmulatorApi {
  /** A bucket in `region` (default: the emulator's); requests signed for another region get a 301 redirect. */
  createBucket(name: string, region?: string): void;
  /** Stores an object (creating the bucket); returns its ETag. */
  putObject(bucket: string, key: string, body: string | Buffer, contentType?: string): string;
  /** GetObject on the key (every key with `*` or none) answers 403 AccessDenied. */
  deny(bucket: string, key?: string): void;
}

import { createRequire } from 'node:module';

type EcsSdk = typeof import('@aws-sdk/client-ecs');
type SqsSdk = typeof import('@aws-sdk/client-sqs');
type EventBridgeSdk = typeof import('@aws-sdk/client-eventbridge');

const require = createRequire(import.meta.url);

/**
 * The AWS SDK clients, through `require` and on first use. They are CommonJS, and an ES module's `import` of a
 * CommonJS file costs Node 20 two extra passes over it (format detection, then a scan for named exports) before
 * the `require` that runs it; `require` alone is ~2.5× cheaper. On first use: EventBridge serves only
 * `stevedore events`, and SQS only an enabled observer, so neither is loaded before the worker's first poll.
 * Same module instances as an `import` would give (one `require` cache).
 */
let ecs: EcsSdk | undefined;
let sqs: SqsSdk | undefined;
let eventBridge: EventBridgeSdk | undefined;

/** `@aws-sdk/client-ecs` (already loaded by ecs-launcher). @internal */
export function loadEcsSdk(): EcsSdk {
  ecs ??= require('@aws-sdk/client-ecs') as EcsSdk;
  return ecs;
}

/** `@aws-sdk/client-sqs`, loaded on first use. @internal */
export function loadSqsSdk(): SqsSdk {
  sqs ??= require('@aws-sdk/client-sqs') as SqsSdk;
  return sqs;
}

/** `@aws-sdk/client-eventbridge`, loaded on first use. @internal */
export function loadEventBridgeSdk(): EventBridgeSdk {
  eventBridge ??= require('@aws-sdk/client-eventbridge') as EventBridgeSdk;
  return eventBridge;
}

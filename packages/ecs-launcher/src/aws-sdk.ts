import { createRequire } from 'node:module';

type EcsSdk = typeof import('@aws-sdk/client-ecs');
type LogsSdk = typeof import('@aws-sdk/client-cloudwatch-logs');
type SmithyTypes = typeof import('@smithy/types');

const require = createRequire(import.meta.url);

/**
 * `@aws-sdk/client-ecs`, through `require`. The AWS SDK's clients are CommonJS, and an ES module's `import` of a
 * CommonJS file costs Node 20 two extra passes over it (detecting its module format, then scanning it for named
 * exports) before the `require` that runs it: for this client's 250 kB index that was ~2.5× the CPU of a plain
 * `require` (~120 ms of the worker's cold start on 2 shared cores). Same module instance either way: `import`
 * of a CommonJS package goes through the same `require` cache.
 * @internal
 */
export const ecsSdk: EcsSdk = require('@aws-sdk/client-ecs') as EcsSdk;

/** `SMITHY_CONTEXT_KEY` of `@smithy/types` (CommonJS too; see {@link ecsSdk}). @internal */
export const SMITHY_CONTEXT_KEY: SmithyTypes['SMITHY_CONTEXT_KEY'] = (require('@smithy/types') as SmithyTypes)
  .SMITHY_CONTEXT_KEY;

let logsSdk: LogsSdk | undefined;

/**
 * `@aws-sdk/client-cloudwatch-logs`, loaded on first use: only crash logs read CloudWatch, so the worker never
 * loads it before its first poll (it cost ~65 ms of CPU there).
 * @internal
 */
export function loadLogsSdk(): LogsSdk {
  logsSdk ??= require('@aws-sdk/client-cloudwatch-logs') as LogsSdk;
  return logsSdk;
}

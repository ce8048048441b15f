import { createRequire } from 'node:module';

type Ec2Module = typeof import('@aws-sdk/client-ec2');

let ec2Module: Ec2Module | undefined;

/**
 * `@aws-sdk/client-ec2`, loaded on first use. EC2 is only called to infer a run's network (the default VPC's
 * subnets), yet its client is the largest of the SDK: importing it at startup cost about 0.5 s and 60 MB of
 * RSS before the first poll (measured with `pnpm bench --scenario cold-start`). Loaded through `require`
 * (the SDK ships CommonJS too) so that the callers stay synchronous.
 */
export function loadEc2(): Ec2Module {
  ec2Module ??= createRequire(import.meta.url)('@aws-sdk/client-ec2') as Ec2Module;
  return ec2Module;
}

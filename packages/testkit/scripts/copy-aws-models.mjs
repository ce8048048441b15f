#!/usr/bin/env node
// Copies the AWS service models the AWS emulator validates against (ECS, EC2, CloudWatch Logs) from the
// `aws-sdk` (v2) npm package into assets/aws-models/, and writes a README naming the source version.
// Run with `pnpm --filter @stevedore/testkit run copy-aws-models` after bumping `aws-sdk`.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MODELS = ['ecs-2014-11-13.min.json', 'ec2-2016-11-15.min.json', 'logs-2014-03-28.min.json'];

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(packageRoot, 'package.json'));
const sdkRoot = dirname(require.resolve('aws-sdk/package.json'));
const sdkVersion = JSON.parse(readFileSync(join(sdkRoot, 'package.json'), 'utf8')).version;
const target = join(packageRoot, 'assets', 'aws-models');

mkdirSync(target, { recursive: true });
const rows = [];
for (const name of MODELS) {
  copyFileSync(join(sdkRoot, 'apis', name), join(target, name));
  const model = JSON.parse(readFileSync(join(target, name), 'utf8'));
  const meta = model.metadata ?? {};
  rows.push(
    `| \`${name}\` | ${meta.serviceId ?? meta.serviceFullName ?? ''} | ${meta.apiVersion ?? ''} | ${meta.protocol ?? ''} |`,
  );
  console.log(`copied ${name}`);
}

const readme = `# AWS service models

Copied verbatim by \`scripts/copy-aws-models.mjs\` from the npm package \`aws-sdk\` version ${sdkVersion}
(\`node_modules/aws-sdk/apis/\`), the AWS SDK for JavaScript v2, licensed under Apache-2.0.
They are AWS's published service models; the AWS emulator (\`src/aws-emulator\`) loads them at run time to
validate every request and response against the operations' input and output shapes.

| file | service | API version | protocol |
| --- | --- | --- | --- |
${rows.join('\n')}

Do not edit by hand: bump \`aws-sdk\` in \`package.json\` and run \`pnpm --filter @stevedore/testkit run copy-aws-models\`.
`;
writeFileSync(join(target, 'README.md'), readme);
console.log(`wrote ${join(target, 'README.md')} (aws-sdk ${sdkVersion})`);

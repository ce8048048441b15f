#!/usr/bin/env node
// Copies the AWS service models the AWS emulator validates against (ECS, EC2, CloudWatch Logs, SQS,
// EventBridge) from the `aws-sdk` (v2) npm package into assets/aws-models/, and writes a README naming
// the source version.
//
// The v2 `*.min.json` models keep shapes, member names, types, `required`, `locationName` and
// `idempotencyToken`, but strip enums, length/range constraints, patterns and each operation's error
// list. When botocore's full models are on this machine (`BOTOCORE_DATA_DIR`, or the `botocore` Python
// package found through `python3`), the script also writes `<service>.constraints.json`: for the
// operations listed below, the enum/min/max/pattern of every input and output member (keyed by member
// path) and the operation's modelled errors. Without botocore the existing constraints files are kept.
//
// Run with `pnpm --filter @stevedore/testkit run copy-aws-models` after bumping `aws-sdk`.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const SERVICES = [
  { file: 'ecs-2014-11-13.min.json', botocore: 'ecs/2014-11-13', prefix: 'ecs', operations: 'all' },
  {
    file: 'ec2-2016-11-15.min.json',
    botocore: 'ec2/2016-11-15',
    prefix: 'ec2',
    operations: ['DescribeVpcs', 'DescribeSubnets', 'DescribeSecurityGroups', 'DescribeAvailabilityZones'],
  },
  { file: 'logs-2014-03-28.min.json', botocore: 'logs/2014-03-28', prefix: 'logs', operations: 'all' },
  { file: 'sqs-2012-11-05.min.json', botocore: 'sqs/2012-11-05', prefix: 'sqs', operations: 'all' },
  // aws-sdk v2 ships EventBridge twice (`events-*` as "CloudWatch Events", `eventbridge-*`); botocore's
  // `events/2015-10-07` is the EventBridge model (serviceId "EventBridge").
  {
    file: 'eventbridge-2015-10-07.min.json',
    botocore: 'events/2015-10-07',
    prefix: 'eventbridge',
    operations: 'all',
  },
];

// STS and IAM (stevedore doctor): their min.json files are copied too; no constraints are generated for them.
SERVICES.push(
  {
    file: 'sts-2011-06-15.min.json',
    botocore: 'sts/2011-06-15',
    prefix: 'sts',
    operations: ['GetCallerIdentity'],
  },
  {
    file: 'iam-2010-05-08.min.json',
    botocore: 'iam/2010-05-08',
    prefix: 'iam',
    operations: ['GetRole', 'SimulatePrincipalPolicy'],
  },
);

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(packageRoot, 'package.json'));
const sdkRoot = dirname(require.resolve('aws-sdk/package.json'));
const sdkVersion = JSON.parse(readFileSync(join(sdkRoot, 'package.json'), 'utf8')).version;
const target = join(packageRoot, 'assets', 'aws-models');

function findBotocore() {
  if (process.env.BOTOCORE_DATA_DIR) return { dir: process.env.BOTOCORE_DATA_DIR, version: 'unknown' };
  try {
    const out = execFileSync(
      'python3',
      ['-c', 'import botocore, os; print(os.path.dirname(botocore.__file__)); print(botocore.__version__)'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    ).trim();
    const [root, version] = out.split('\n');
    return { dir: join(root, 'data'), version };
  } catch {
    return null;
  }
}

function readBotocoreModel(dataDir, rel) {
  const plain = join(dataDir, rel, 'service-2.json');
  if (existsSync(plain)) return JSON.parse(readFileSync(plain, 'utf8'));
  const gz = `${plain}.gz`;
  if (existsSync(gz)) return JSON.parse(gunzipSync(readFileSync(gz)).toString('utf8'));
  return null;
}

const CONSTRAINT_KEYS = ['enum', 'min', 'max', 'pattern'];

/** Walks one botocore shape, recording constraints by member path (`a.b[].c`, `m{}`, `m{key}`). */
function collect(model, shapeName, path, out, stack) {
  const shape = model.shapes[shapeName];
  if (!shape || stack.includes(shapeName) || stack.length > 24) return;
  const found = {};
  for (const k of CONSTRAINT_KEYS) if (shape[k] !== undefined) found[k] = shape[k];
  if (Object.keys(found).length > 0 && path !== '') out[path] = found;
  const next = [...stack, shapeName];
  if (shape.type === 'structure') {
    for (const [name, member] of Object.entries(shape.members ?? {})) {
      collect(model, member.shape, path === '' ? name : `${path}.${name}`, out, next);
    }
  } else if (shape.type === 'list') {
    collect(model, shape.member.shape, `${path}[]`, out, next);
  } else if (shape.type === 'map') {
    collect(model, shape.key.shape, `${path}{key}`, out, next);
    collect(model, shape.value.shape, `${path}{}`, out, next);
  }
}

function constraintsFor(model, operations) {
  const names = operations === 'all' ? Object.keys(model.operations).sort() : operations;
  const result = {};
  for (const name of names) {
    const op = model.operations[name];
    if (!op) throw new Error(`botocore model has no operation ${name}`);
    const input = {};
    const output = {};
    if (op.input) collect(model, op.input.shape, '', input, []);
    if (op.output) collect(model, op.output.shape, '', output, []);
    result[name] = { errors: (op.errors ?? []).map((e) => e.shape), input, output };
  }
  return result;
}

mkdirSync(target, { recursive: true });
const botocore = findBotocore();
const rows = [];
for (const service of SERVICES) {
  copyFileSync(join(sdkRoot, 'apis', service.file), join(target, service.file));
  const model = JSON.parse(readFileSync(join(target, service.file), 'utf8'));
  const meta = model.metadata ?? {};
  rows.push(
    `| \`${service.file}\` | ${meta.serviceId ?? ''} | ${meta.apiVersion ?? ''} | ${meta.protocol ?? ''} |`,
  );
  console.log(`copied ${service.file}`);
  const full = botocore ? readBotocoreModel(botocore.dir, service.botocore) : null;
  const constraintsFile = join(target, `${service.prefix}.constraints.json`);
  if (full) {
    const body = {
      source: `botocore ${botocore.version} data/${service.botocore}/service-2.json`,
      operations: constraintsFor(full, service.operations),
    };
    writeFileSync(constraintsFile, `${JSON.stringify(body, null, 1)}\n`);
    console.log(`wrote ${service.prefix}.constraints.json from botocore ${botocore.version}`);
  } else if (existsSync(constraintsFile)) {
    console.log(`botocore not found: kept the existing ${service.prefix}.constraints.json`);
  } else {
    console.log(
      `botocore not found: no ${service.prefix}.constraints.json (enums and limits will not be checked)`,
    );
  }
}

let constraintsSource = 'not regenerated in this run (botocore was not found); see each file\'s "source"';
if (botocore)
  constraintsSource = `botocore ${botocore.version} (the Python SDK's full service models, Apache-2.0)`;

const readme = `# AWS service models

Copied verbatim by \`scripts/copy-aws-models.mjs\` from the npm package \`aws-sdk\` version ${sdkVersion}
(\`node_modules/aws-sdk/apis/\`), the AWS SDK for JavaScript v2, licensed under Apache-2.0.
They are AWS's published service models; the AWS emulator (\`src/aws-emulator\`) loads them at run time to
validate every request and response against the operations' input and output shapes.

| file | service | API version | protocol |
| --- | --- | --- | --- |
${rows.join('\n')}

The \`.min.json\` files carry no enums, length/range limits, patterns or error lists. The
\`<service>.constraints.json\` files add those for the emulated operations, keyed by member path
(\`a.b[].c\` for list members, \`m{}\` for map values, \`m{key}\` for map keys). Source: ${constraintsSource}.

Do not edit by hand: bump \`aws-sdk\` in \`package.json\` and run \`pnpm --filter @stevedore/testkit run copy-aws-models\`.
`;
writeFileSync(join(target, 'README.md'), readme);
console.log(`wrote README.md (aws-sdk ${sdkVersion})`);

import { describe, expect, it } from 'vitest';
import { decodeEc2Query, ec2ResponseXml, jsonReady } from './codec.js';
import { loadServiceModel, validationMessage, type WalkIssue, walk } from './model.js';

const ecs = loadServiceModel('ecs-2014-11-13.min.json', 'ecs.constraints.json');
const ec2 = loadServiceModel('ec2-2016-11-15.min.json', 'ec2.constraints.json');

function check(
  operation: string,
  value: unknown,
  source: 'json' | 'model' = 'json',
  side: 'input' | 'output' = 'input',
) {
  const op = ecs.operation(operation);
  const node = side === 'input' ? op?.input : op?.output;
  if (!op || !node) throw new Error(`no ${operation}`);
  const issues: WalkIssue[] = [];
  const converted = walk(
    ecs,
    node,
    value,
    { source, constraints: side === 'input' ? op.inputConstraints : op.outputConstraints },
    issues,
  );
  return { issues, converted };
}

describe('model validation', () => {
  it('loads the models with the botocore constraints and error lists', () => {
    expect(ecs.targetPrefix).toBe('AmazonEC2ContainerServiceV20141113');
    expect(ecs.operation('RunTask')?.errors).toContain('ConflictException');
    expect(ecs.operation('RunTask')?.inputConstraints.launchType?.enum).toContain('FARGATE');
  });

  it('accepts a valid request and converts timestamps', () => {
    const { issues } = check('RunTask', {
      taskDefinition: 'family:1',
      launchType: 'FARGATE',
      count: 1,
      tags: [{ key: 'prefect.io/flow-run-id', value: 'abc' }],
      overrides: { containerOverrides: [{ name: 'prefect', environment: [{ name: 'A', value: 'b' }] }] },
    });
    expect(issues).toEqual([]);
  });

  it('reports unknown members, missing required members, wrong types, enums and limits', () => {
    const { issues } = check('RunTask', {
      launchType: 'fargate',
      count: 'one',
      bogus: true,
      overrides: { containerOverrides: [{ name: 'x', unknownField: 1 }] },
      tags: [{ key: '', value: 'bad,comma' }],
    });
    const byKind = (kind: string) => issues.filter((i) => i.kind === kind).map((i) => i.path);
    expect(byKind('unknown-member')).toEqual(['bogus', 'overrides.containerOverrides[0].unknownField']);
    expect(byKind('required')).toEqual(['taskDefinition']);
    expect(byKind('type')).toEqual(['count']);
    expect(byKind('constraint')).toEqual(['launchType', 'tags[0].key', 'tags[0].value']);
    expect(validationMessage(issues.filter((i) => i.kind === 'constraint'))).toBe(
      "3 validation errors detected: Value 'fargate' at 'launchType' failed to satisfy constraint: Member must satisfy enum value set: [EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES]; " +
        "Value '' at 'tags[0].key' failed to satisfy constraint: Member must have length greater than or equal to 1; " +
        "Value 'bad,comma' at 'tags[0].value' failed to satisfy constraint: Member must satisfy regular expression pattern: ([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)",
    );
  });

  it('checks responses: timestamps must be Dates, integers integers, enums in their set', () => {
    const ok = check(
      'DescribeTasks',
      {
        tasks: [{ taskArn: 'a', createdAt: new Date(), version: 2, stopCode: 'UserInitiated' }],
        failures: [],
      },
      'model',
      'output',
    );
    expect(ok.issues).toEqual([]);
    const bad = check(
      'DescribeTasks',
      { tasks: [{ taskArn: 'a', createdAt: '2024-01-01', version: 1.5, stopCode: 'Nope', extra: 1 }] },
      'model',
      'output',
    );
    expect(bad.issues.map((i) => `${i.kind} ${i.path}`).sort()).toEqual([
      'constraint tasks[0].stopCode',
      'type tasks[0].createdAt',
      'type tasks[0].version',
      'unknown-member tasks[0].extra',
    ]);
  });

  it('serialises JSON timestamps as epoch seconds', () => {
    expect(jsonReady({ at: new Date(1_700_000_000_123) })).toEqual({ at: 1_700_000_000.123 });
  });

  it('decodes EC2 query lists and renders XML with locationName and item members', () => {
    const op = ec2.operation('DescribeVpcs');
    const params = new Map([
      ['Action', 'DescribeVpcs'],
      ['Version', '2016-11-15'],
      ['Filter.1.Name', 'isDefault'],
      ['Filter.1.Value.1', 'true'],
      ['VpcId.1', 'vpc-1'],
      ['VpcId.2', 'vpc-2'],
      ['Nope', 'x'],
    ]);
    const decoded = decodeEc2Query(ec2, op?.input, params);
    expect(decoded.value).toEqual({
      Filters: [{ Name: 'isDefault', Values: ['true'] }],
      VpcIds: ['vpc-1', 'vpc-2'],
    });
    expect(decoded.unknown).toEqual(['Nope']);
    const xml = ec2ResponseXml(
      ec2,
      'DescribeVpcs',
      op?.output,
      { Vpcs: [{ VpcId: 'vpc-1', IsDefault: true }] },
      'rid',
    );
    expect(xml).toContain(
      '<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>rid</requestId><vpcSet><item><vpcId>vpc-1</vpcId><isDefault>true</isDefault></item></vpcSet></DescribeVpcsResponse>',
    );
  });
});

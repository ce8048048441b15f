import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isStevedoreError, kernelErrorCodes } from '../errors.js';
import type { Deployment, Flow, FlowRun } from '../prefect/types.js';
import {
  defaultFlowRunCommand,
  PREFECT_2_FLOW_RUN_COMMAND,
  PREFECT_3_FLOW_RUN_COMMAND,
  type PrepareForFlowRunContext,
  prepareForFlowRun,
  shellQuote,
  splitCommand,
  toPythonUtcIso,
} from './prepare.js';

const flowRun: FlowRun = {
  id: 'fr-1',
  name: 'crimson-otter',
  flow_id: 'f-1',
  deployment_id: 'd-1',
  tags: ['nightly'],
  parameters: { n: 1 },
};
const flow: Flow = { id: 'f-1', name: 'etl' };
const deployment: Deployment = {
  id: 'd-1',
  name: 'etl-prod',
  flow_id: 'f-1',
  updated: '2024-05-01T10:20:30.123456Z',
};

function ctx(overrides: Partial<PrepareForFlowRunContext> = {}): PrepareForFlowRunContext {
  return {
    flowRun,
    flow,
    deployment,
    workPool: { id: 'wp-1', name: 'ecs-pool' },
    workerName: 'stevedore-1',
    workerId: 'w-1',
    workerEnv: {
      PREFECT_API_URL: 'http://prefect:4200/api',
      PREFECT_API_KEY: 'pnu_x',
      PREFECT_LOGGING_LEVEL: 'INFO',
    },
    prefectVersion: '3.4.11',
    defaultCommand: PREFECT_3_FLOW_RUN_COMMAND,
    ...overrides,
  };
}

describe('prepareForFlowRun env (spec §1.7)', () => {
  it('layers worker settings, the flow run id, attribution, then the configuration env', () => {
    const out = prepareForFlowRun({ env: { PREFECT_LOGGING_LEVEL: 'DEBUG', APP: 'x' } }, ctx());
    expect(out.env).toEqual({
      PREFECT_API_URL: 'http://prefect:4200/api',
      PREFECT_API_KEY: 'pnu_x',
      PREFECT_LOGGING_LEVEL: 'DEBUG',
      PREFECT__FLOW_RUN_ID: 'fr-1',
      PREFECT__WORKER_ID: 'w-1',
      PREFECT__WORKER_NAME: 'stevedore-1',
      PREFECT__FLOW_ID: 'f-1',
      PREFECT__FLOW_NAME: 'etl',
      PREFECT__DEPLOYMENT_ID: 'd-1',
      PREFECT__DEPLOYMENT_NAME: 'etl-prod',
      APP: 'x',
    });
  });

  it('lets later layers win over earlier ones', () => {
    const out = prepareForFlowRun(
      { env: { PREFECT__WORKER_NAME: 'from-config' } },
      ctx({ workerEnv: { PREFECT__FLOW_RUN_ID: 'stale', PREFECT__FLOW_NAME: 'stale' } }),
    );
    expect(out.env.PREFECT__FLOW_RUN_ID).toBe('fr-1');
    expect(out.env.PREFECT__FLOW_NAME).toBe('etl');
    expect(out.env.PREFECT__WORKER_NAME).toBe('from-config');
  });

  it('drops null entries after layering, which unsets base variables', () => {
    const out = prepareForFlowRun(
      { env: { PREFECT_API_KEY: null, PREFECT__FLOW_ID: null, KEEP: '' } },
      ctx(),
    );
    expect(out.env).not.toHaveProperty('PREFECT_API_KEY');
    expect(out.env).not.toHaveProperty('PREFECT__FLOW_ID');
    expect(out.env.KEEP).toBe('');
  });

  it('converts non-string values with Python str()', () => {
    const out = prepareForFlowRun({ env: { N: 1, F: 0.5, B: true, O: { a: [false] } } }, ctx());
    expect(out.env).toMatchObject({ N: '1', F: '0.5', B: 'True', O: "{'a': [False]}" });
    expect(Object.values(out.env).every((v) => typeof v === 'string')).toBe(true);
  });

  it('omits attribution it does not know', () => {
    const out = prepareForFlowRun(
      {},
      ctx({
        workerId: undefined,
        flow: undefined,
        deployment: undefined,
        flowRun: { ...flowRun, deployment_id: null },
      }),
    );
    expect(
      Object.keys(out.env)
        .filter((k) => k.startsWith('PREFECT__'))
        .sort(),
    ).toEqual(['PREFECT__FLOW_ID', 'PREFECT__FLOW_RUN_ID', 'PREFECT__WORKER_NAME']);
  });

  it('sets PREFECT__DEPLOYMENT_ID from the run even when the deployment was not read', () => {
    const out = prepareForFlowRun({}, ctx({ deployment: undefined }));
    expect(out.env.PREFECT__DEPLOYMENT_ID).toBe('d-1');
    expect(out.env).not.toHaveProperty('PREFECT__DEPLOYMENT_NAME');
  });

  it('treats a missing or null env as empty and rejects a non-object env', () => {
    expect(prepareForFlowRun({ env: null }, ctx()).env.PREFECT__FLOW_RUN_ID).toBe('fr-1');
    expect(() => prepareForFlowRun({ env: '{{ env }}' }, ctx())).toThrow(/'env' must be an object/);
  });
});

describe('prepareForFlowRun labels (spec §1.7)', () => {
  it('sets the prefect.io labels in order, the configuration labels winning', () => {
    const out = prepareForFlowRun({ labels: { team: 'data', 'prefect.io/flow-name': 'renamed' } }, ctx());
    expect(Object.entries(out.labels)).toEqual([
      ['prefect.io/flow-run-id', 'fr-1'],
      ['prefect.io/flow-run-name', 'crimson-otter'],
      ['prefect.io/version', '3.4.11'],
      ['prefect.io/work-pool-name', 'ecs-pool'],
      ['prefect.io/work-pool-id', 'wp-1'],
      ['prefect.io/worker-name', 'stevedore-1'],
      ['prefect.io/flow-id', 'f-1'],
      ['prefect.io/flow-name', 'renamed'],
      ['prefect.io/deployment-id', 'd-1'],
      ['prefect.io/deployment-name', 'etl-prod'],
      ['prefect.io/deployment-updated', '2024-05-01T10:20:30.123456+00:00'],
      ['team', 'data'],
    ]);
  });

  it('leaves out deployment labels without a deployment, and deployment-updated without updated', () => {
    expect(prepareForFlowRun({}, ctx({ deployment: undefined })).labels).not.toHaveProperty(
      'prefect.io/deployment-id',
    );
    const labels = prepareForFlowRun({}, ctx({ deployment: { ...deployment, updated: null } })).labels;
    expect(labels['prefect.io/deployment-id']).toBe('d-1');
    expect(labels).not.toHaveProperty('prefect.io/deployment-updated');
  });

  it.each([
    ['2024-05-01T10:20:30.123456Z', '2024-05-01T10:20:30.123456+00:00'],
    ['2024-05-01T10:20:30.123456+00:00', '2024-05-01T10:20:30.123456+00:00'],
    ['2024-05-01T12:20:30.5+02:00', '2024-05-01T10:20:30.500000+00:00'],
    ['2024-05-01T00:20:30-0130', '2024-05-01T01:50:30+00:00'],
    ['2024-05-01T10:20:30.000000Z', '2024-05-01T10:20:30+00:00'],
    ['2024-05-01T10:20:30', '2024-05-01T10:20:30+00:00'],
    ['not a date', 'not a date'],
  ])('formats deployment-updated %s as %s', (input, expected) => {
    expect(toPythonUtcIso(input)).toBe(expected);
  });
});

describe('prepareForFlowRun name and command (spec §1.7)', () => {
  it('uses the flow run name when the configuration sets none', () => {
    expect(prepareForFlowRun({}, ctx()).name).toBe('crimson-otter');
    expect(prepareForFlowRun({ name: null }, ctx()).name).toBe('crimson-otter');
    expect(prepareForFlowRun({ name: '' }, ctx()).name).toBe('crimson-otter');
  });

  it('renders {{ ctx.flow.* }} and {{ ctx.flow_run.* }} in a configured name', () => {
    const out = prepareForFlowRun(
      { name: '{{ ctx.flow.name }}-{{ ctx.flow_run.name }}-{{ctx.flow_run.tags[0]}}' },
      ctx(),
    );
    expect(out.name).toBe('etl-crimson-otter-nightly');
  });

  it('renders missing ctx keys as "" and leaves other placeholders', () => {
    expect(prepareForFlowRun({ name: 'run-{{ ctx.flow_run.nope }}-{{ other }}' }, ctx()).name).toBe(
      'run--{{ other }}',
    );
    expect(prepareForFlowRun({ name: '{{ ctx.flow.nope }}' }, ctx()).name).toBe('crimson-otter');
    expect(prepareForFlowRun({ name: 'static' }, ctx()).name).toBe('static');
  });

  it('defaults the command per server generation', () => {
    expect(defaultFlowRunCommand(3)).toBe('prefect flow-run execute');
    expect(defaultFlowRunCommand(2)).toBe('python -m prefect.engine');
    expect(prepareForFlowRun({}, ctx()).command).toBe(PREFECT_3_FLOW_RUN_COMMAND);
    expect(
      prepareForFlowRun({ command: null }, ctx({ defaultCommand: defaultFlowRunCommand(2) })).command,
    ).toBe(PREFECT_2_FLOW_RUN_COMMAND);
    expect(prepareForFlowRun({ command: '' }, ctx()).command).toBe(PREFECT_3_FLOW_RUN_COMMAND);
    expect(prepareForFlowRun({ command: 'python flow.py' }, ctx()).command).toBe('python flow.py');
  });

  it('rejects a non-string command', () => {
    try {
      prepareForFlowRun({ command: ['prefect', 'flow-run', 'execute'] }, ctx());
      expect.unreachable();
    } catch (e) {
      expect(isStevedoreError(e, kernelErrorCodes.TEMPLATE_RENDER)).toBe(true);
    }
  });

  it('returns a new configuration, keeping other keys and not mutating the input', () => {
    const config = Object.freeze({
      env: Object.freeze({ A: '1' }),
      labels: Object.freeze({}),
      task_definition: Object.freeze({ cpu: 1024 }),
      stream_output: false,
    });
    const out = prepareForFlowRun(config, ctx());
    expect(out).not.toBe(config);
    expect(out.task_definition).toEqual({ cpu: 1024 });
    expect(out.task_definition).not.toBe(config.task_definition);
    expect(out.stream_output).toBe(false);
    expect(config.env).toEqual({ A: '1' });
  });
});

describe('splitCommand (POSIX shlex.split)', () => {
  // Expected values were produced by CPython's shlex.split.
  it.each([
    ['prefect flow-run execute', ['prefect', 'flow-run', 'execute']],
    ['  a   b  ', ['a', 'b']],
    ["a 'b c' d", ['a', 'b c', 'd']],
    ['a "b c" d', ['a', 'b c', 'd']],
    ['a"b"c', ['abc']],
    ["''", ['']],
    ['a "" b', ['a', '', 'b']],
    ['\'\'""', ['']],
    ["a''", ['a']],
    ['a\\ b', ['a b']],
    ['"a\\"b"', ['a"b']],
    ['"a\\\\b"', ['a\\b']],
    ['"a\\$b"', ['a\\$b']],
    ["'a\\b'", ['a\\b']],
    ["\\'", ["'"]],
    ['a\tb\nc\rd', ['a', 'b', 'c', 'd']],
    ['a\\\nb', ['a\nb']],
    ['x\u00a0y', ['x\u00a0y']],
    [`python -c 'print("hi")'`, ['python', '-c', 'print("hi")']],
    ['echo $HOME', ['echo', '$HOME']],
    ['a#b # c', ['a#b', '#', 'c']],
    ['', []],
  ])('%j', (cmd, expected) => {
    expect(splitCommand(cmd)).toEqual(expected);
  });

  it.each([
    ['\\', 'No escaped character'],
    ['"abc', 'No closing quotation'],
    ["'abc", 'No closing quotation'],
    ['"abc\\', 'No escaped character'],
  ])('rejects %j (%s)', (cmd, reason) => {
    try {
      splitCommand(cmd);
      expect.unreachable();
    } catch (e) {
      expect(isStevedoreError(e, kernelErrorCodes.TEMPLATE_RENDER)).toBe(true);
      expect((e as Error).message).toContain(reason);
    }
  });

  it.each([
    ['', "''"],
    ['abc', 'abc'],
    ['a b', "'a b'"],
    ["it's", `'it'"'"'s'`],
    ['x@y%z+=:,./-_', 'x@y%z+=:,./-_'],
    ['é', "'é'"],
    ['$HOME', "'$HOME'"],
  ])('shellQuote(%j) is shlex.quote: %s', (arg, expected) => {
    expect(shellQuote(arg)).toBe(expected);
  });

  it('round-trips shellQuote-joined argv', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { maxLength: 8 }), (argv) => {
        expect(splitCommand(argv.map(shellQuote).join(' '))).toEqual(argv);
      }),
    );
  });
});

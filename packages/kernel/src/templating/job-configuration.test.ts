import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { isStevedoreError, kernelErrorCodes, StevedoreError } from '../errors.js';
import type { BaseJobTemplate } from '../prefect/types.js';
import {
  mergeJobVariables,
  renderJobConfiguration,
  resolveBlockReferences,
  resolveVariables,
  type TemplateReferenceResolver,
} from './job-configuration.js';

const ecsTemplate = JSON.parse(
  readFileSync(new URL('../../../../reference/ecs-base-job-template.json', import.meta.url), 'utf8'),
) as BaseJobTemplate;

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function template(
  jobConfiguration: Record<string, unknown>,
  properties: Record<string, Record<string, unknown>> = {},
) {
  return deepFreeze({ job_configuration: jobConfiguration, variables: { type: 'object', properties } });
}

async function expectRenderError(promise: Promise<unknown> | (() => unknown), ...fragments: string[]) {
  let error: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (e) {
    error = e;
  }
  expect(isStevedoreError(error, kernelErrorCodes.TEMPLATE_RENDER)).toBe(true);
  for (const fragment of fragments) expect((error as Error).message).toContain(fragment);
  return error as StevedoreError;
}

describe('mergeJobVariables (spec §1.6 step 1)', () => {
  it('merges env with the flow run winning and overrides other keys shallowly', () => {
    const deployment = deepFreeze({
      env: { A: 'dep', B: 'dep' },
      network_configuration: { awsvpcConfiguration: { subnets: ['s1'], securityGroups: ['g1'] } },
      cpu: 256,
    });
    const flowRun = deepFreeze({
      env: { B: 'run', C: null },
      network_configuration: { awsvpcConfiguration: { subnets: ['s2'] } },
    });
    expect(mergeJobVariables(deployment, flowRun)).toEqual({
      env: { A: 'dep', B: 'run', C: null },
      network_configuration: { awsvpcConfiguration: { subnets: ['s2'] } },
      cpu: 256,
    });
  });

  it("uses the flow run's env as is when the deployment has no env object", () => {
    expect(mergeJobVariables({ cpu: 1 }, { env: { A: '1' } })).toEqual({ cpu: 1, env: { A: '1' } });
    expect(mergeJobVariables({ env: 'not-a-dict' }, { env: { A: '1' } })).toEqual({ env: { A: '1' } });
  });

  it("keeps the deployment's env when the flow run has none", () => {
    expect(mergeJobVariables({ env: { A: '1' } }, { image: 'x' })).toEqual({ env: { A: '1' }, image: 'x' });
  });

  it('treats null and undefined inputs as empty', () => {
    expect(mergeJobVariables(null, undefined)).toEqual({});
    expect(mergeJobVariables(undefined, { a: 1 })).toEqual({ a: 1 });
  });

  it('never mutates or aliases its inputs', () => {
    const deployment = { env: { A: '1' }, list: [1] };
    const flowRun = { env: { B: '2' }, obj: { k: 'v' } };
    const merged = mergeJobVariables(deployment, flowRun) as {
      env: Record<string, string>;
      list: number[];
      obj: object;
    };
    merged.list.push(2);
    merged.env.C = '3';
    expect(deployment).toEqual({ env: { A: '1' }, list: [1] });
    expect(flowRun).toEqual({ env: { B: '2' }, obj: { k: 'v' } });
    expect(merged.obj).not.toBe(flowRun.obj);
  });

  it('rejects a non-object flow-run env when the deployment has an env object', async () => {
    await expectRenderError(() => mergeJobVariables({ env: { A: '1' } }, { env: null }), "'env'", 'null');
  });
});

describe('renderJobConfiguration (spec §1.6 steps 2–7)', () => {
  it('uses non-null defaults only: null defaults drop the placeholder, false/0/"" are kept', () => {
    const t = template(
      { a: '{{ a }}', b: '{{ b }}', c: '{{ c }}', d: '{{ d }}', e: '{{ e }}', f: '{{ f }}' },
      {
        a: { default: null },
        b: { default: false },
        c: { default: 0 },
        d: { default: '' },
        e: {},
        f: { default: 'x' },
      },
    );
    expect(renderJobConfiguration(t, {})).toEqual({ b: false, c: 0, d: '', f: 'x' });
  });

  it('lets job variables override defaults, including with null', () => {
    const t = template({ a: '{{ a }}', b: '{{ b }}' }, { a: { default: 'def' }, b: { default: 'def' } });
    expect(renderJobConfiguration(t, { a: 'jv', b: null })).toEqual({ a: 'jv', b: null });
  });

  it('step 4: replaces a non-object env ("{{ env }}") with the env default', () => {
    const t = template({ env: '{{ env }}' }, { env: { type: 'object', default: { D: 'default' } } });
    expect(renderJobConfiguration(t, {})).toEqual({ env: { D: 'default' } });
  });

  it('steps 4 and 6: job-variable env adds to the defaults instead of replacing them', () => {
    const t = template({ env: '{{ env }}' }, { env: { default: { D: 'default', X: 'default' } } });
    expect(renderJobConfiguration(t, { env: { X: 'jv', J: 'jv' } })).toEqual({
      env: { D: 'default', X: 'jv', J: 'jv' },
    });
  });

  it('step 4: merges the env default into an env object of the template, the default winning', () => {
    const t = template({ env: { BASE: 'base', D: 'base' } }, { env: { default: { D: 'default' } } });
    expect(renderJobConfiguration(t, {})).toEqual({ env: { BASE: 'base', D: 'default' } });
  });

  it('step 6: merges job-variable env into an env object of the template', () => {
    const t = template({ env: { BASE: 'base', OVER: 'base', T: '{{ tag }}' } }, { env: { type: 'object' } });
    expect(renderJobConfiguration(t, { env: { OVER: 'jv' }, tag: 'v1' })).toEqual({
      env: { BASE: 'base', OVER: 'jv', T: 'v1' },
    });
  });

  it('step 6 renders env values that are themselves placeholders in the template', () => {
    const t = template({ env: { HOME_DIR: '{{ $HOME }}', N: '{{ n }}' } });
    expect(renderJobConfiguration(t, { n: 3 }, { env: { HOME: '/root' } })).toEqual({
      env: { HOME_DIR: '/root', N: 3 },
    });
  });

  it('skips steps 4 and 6 for an empty env default (falsy in Python), which still fills "{{ env }}"', () => {
    const t = template({ env: '{{ env }}' }, { env: { default: {} } });
    expect(renderJobConfiguration(t, {})).toEqual({ env: {} });
    expect(renderJobConfiguration(t, { env: { A: '1' } })).toEqual({ env: { A: '1' } });
  });

  it('rejects a non-object job-variable env when the template env is an object', async () => {
    const t = template({ env: { A: '1' } });
    await expectRenderError(() => renderJobConfiguration(t, { env: 'A=1' }), "job variable 'env'", 'string');
  });

  it('step 5: expands dotted job variables into nested objects', () => {
    const t = template({ env: '{{ env }}', net: '{{ network_configuration }}' });
    expect(
      renderJobConfiguration(t, {
        'env.FOO': '1',
        'network_configuration.awsvpcConfiguration.assignPublicIp': 'DISABLED',
      }),
    ).toEqual({ env: { FOO: '1' }, net: { awsvpcConfiguration: { assignPublicIp: 'DISABLED' } } });
  });

  it('step 5: deep-merges plain and dotted forms, the dotted (nested) form winning', () => {
    const t = template({ env: '{{ env }}', net: '{{ net }}' });
    expect(
      renderJobConfiguration(t, {
        'env.FOO': 'dotted',
        env: { FOO: 'plain', BAR: 'plain' },
        net: { a: { b: 1, c: 1 } },
        'net.a.c': 2,
      }),
    ).toEqual({ env: { FOO: 'dotted', BAR: 'plain' }, net: { a: { b: 1, c: 2 } } });
  });

  it('step 5: a plain non-object value replaces the dotted form', () => {
    const t = template({ x: '{{ x }}' });
    expect(renderJobConfiguration(t, { 'x.y': 1, x: 'plain' })).toEqual({ x: 'plain' });
  });

  it('step 5: the update of the defaults is shallow (dotted env keeps template defaults through step 6)', () => {
    const t = template(
      { env: '{{ env }}', net: '{{ net }}' },
      { env: { default: { D: 'd' } }, net: { default: { a: 1, b: 2 } } },
    );
    expect(renderJobConfiguration(t, { 'env.X': 'x', 'net.b': 3 })).toEqual({
      env: { D: 'd', X: 'x' },
      net: { b: 3 },
    });
  });

  it('step 5: rejects dotted keys that conflict', async () => {
    await expectRenderError(
      () => renderJobConfiguration(template({}), { 'a.b': 1, 'a.b.c': 2 }),
      "'a.b.c'",
      "'a.b'",
    );
  });

  it('does not mutate the template or the job variables', () => {
    const t = template({ env: '{{ env }}', deep: { list: ['{{ a }}'] } }, { env: { default: { D: '1' } } });
    const vars = deepFreeze({ env: { J: '1' }, a: { nested: true }, 'env.K': '2' });
    const out = renderJobConfiguration(t, vars) as { deep: { list: { nested: boolean }[] } };
    out.deep.list[0]!.nested = false;
    expect(vars.a.nested).toBe(true);
  });

  it('rejects a template without job_configuration', async () => {
    await expectRenderError(() => renderJobConfiguration({}, {}), 'job_configuration');
  });

  it('tolerates a template without variables', () => {
    expect(renderJobConfiguration({ job_configuration: { a: '{{ a }}' } }, { a: 1 })).toEqual({ a: 1 });
  });

  describe('with the default ECS base job template', () => {
    it('renders nothing but the literal values and non-null defaults when there are no job variables', () => {
      const out = renderJobConfiguration(deepFreeze(structuredClone(ecsTemplate)), {});
      expect(out).toEqual({
        task_definition: { containerDefinitions: [{}] },
        task_run_request: {
          launchType: 'FARGATE',
          overrides: { containerOverrides: [{}] },
        },
        stream_output: false,
        task_start_timeout_seconds: 0,
        task_watch_poll_interval: 0,
        auto_deregister_task_definition: false,
        match_latest_revision_in_family: false,
      });
    });

    it('renders typical job variables with their raw types', () => {
      const vars = mergeJobVariables(
        {
          image: 'prefecthq/prefect:3-latest',
          cpu: 1024,
          memory: 2048,
          env: { EXTRA_PIP_PACKAGES: 's3fs', KEEP: 'dep' },
          cluster: 'prod',
          network_configuration: {
            awsvpcConfiguration: { subnets: ['subnet-1'], assignPublicIp: 'DISABLED' },
          },
          capacity_provider_strategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }],
          aws_credentials: { $ref: { block_document_id: 'b-1' } },
        },
        { env: { KEEP: null, RUN: 'yes' }, labels: { team: 'data' } },
      );
      const out = renderJobConfiguration(ecsTemplate, vars);
      expect(out.env).toEqual({ EXTRA_PIP_PACKAGES: 's3fs', KEEP: null, RUN: 'yes' });
      expect(out.labels).toEqual({ team: 'data' });
      expect(out.aws_credentials).toEqual({ $ref: { block_document_id: 'b-1' } });
      expect(out.task_definition).toEqual({
        containerDefinitions: [{ image: 'prefecthq/prefect:3-latest' }],
        cpu: 1024,
        memory: 2048,
      });
      expect(out.task_run_request).toEqual({
        capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }],
        cluster: 'prod',
        launchType: 'FARGATE',
        overrides: {
          containerOverrides: [{ cpu: 1024, environment: out.env, memory: 2048 }],
          cpu: 1024,
          memory: 2048,
        },
        tags: { team: 'data' },
      });
      expect(out.network_configuration).toEqual({
        awsvpcConfiguration: { subnets: ['subnet-1'], assignPublicIp: 'DISABLED' },
      });
      expect(out).not.toHaveProperty('command');
      expect(out).not.toHaveProperty('name');
    });
  });
});

function fakeResolver(blocks: {
  byId?: Record<string, Record<string, unknown>>;
  byName?: Record<string, Record<string, unknown>>;
  variables?: Record<string, unknown>;
}) {
  const notFound = () =>
    Object.assign(new Error('404 Not Found'), { code: kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND });
  const resolver = {
    readBlockDocument: vi.fn(async (id: string) => {
      const data = blocks.byId?.[id];
      if (!data) throw notFound();
      return { data: structuredClone(data) };
    }),
    readBlockDocumentByName: vi.fn(async (slug: string, name: string) => {
      const data = blocks.byName?.[`${slug}/${name}`];
      if (!data) throw notFound();
      return { data: structuredClone(data) };
    }),
    readVariable: vi.fn(async (name: string) =>
      blocks.variables && Object.hasOwn(blocks.variables, name)
        ? { found: true, value: structuredClone(blocks.variables[name]) }
        : { found: false, value: undefined },
    ),
  } satisfies TemplateReferenceResolver;
  return resolver;
}

const awsCreds = { aws_access_key_id: 'AKIA', aws_secret_access_key: 'secret', region_name: 'eu-west-1' };

describe('resolveBlockReferences (spec §1.6 pass 2)', () => {
  it('replaces {"$ref": {"block_document_id"}} objects anywhere, other keys discarded, fetching each id once', async () => {
    const r = fakeResolver({ byId: { 'b-1': awsCreds } });
    const config = deepFreeze({
      aws_credentials: { $ref: { block_document_id: 'b-1' } },
      nested: [{ creds: { $ref: { block_document_id: 'b-1' }, ignored: true } }],
      keep: { $ref: { block_document_id: '' } },
      other: { $ref: 'not-an-object' },
    });
    const out = await resolveBlockReferences(config, r);
    expect(out).toEqual({
      aws_credentials: awsCreds,
      nested: [{ creds: awsCreds }],
      keep: { $ref: { block_document_id: '' } },
      other: { $ref: 'not-an-object' },
    });
    expect(r.readBlockDocument).toHaveBeenCalledTimes(1);
    expect(r.readBlockDocument).toHaveBeenCalledWith('b-1');
    // Each use is its own copy.
    (out.aws_credentials as Record<string, unknown>).region_name = 'changed';
    expect((out.nested as { creds: Record<string, unknown> }[])[0]?.creds.region_name).toBe('eu-west-1');
  });

  it('replaces a whole-string block placeholder with the raw data', async () => {
    const r = fakeResolver({ byName: { 'aws-credentials/prod': awsCreds } });
    const out = await resolveBlockReferences(
      { aws_credentials: '{{ prefect.blocks.aws-credentials.prod }}' },
      r,
    );
    expect(out).toEqual({ aws_credentials: awsCreds });
    expect(r.readBlockDocumentByName).toHaveBeenCalledWith('aws-credentials', 'prod');
  });

  it('caches documents per (slug, name) within one call only', async () => {
    const r = fakeResolver({ byName: { 'aws-credentials/prod': awsCreds, 'secret/token': { value: 't' } } });
    const config = {
      a: '{{ prefect.blocks.aws-credentials.prod.region_name }}',
      b: [
        '{{ prefect.blocks.aws-credentials.prod }}',
        'x-{{ prefect.blocks.aws-credentials.prod.region_name }}',
      ],
      c: '{{ prefect.blocks.secret.token }}',
    };
    expect(await resolveBlockReferences(config, r)).toEqual({
      a: 'eu-west-1',
      b: [awsCreds, 'x-eu-west-1'],
      c: 't',
    });
    expect(r.readBlockDocumentByName).toHaveBeenCalledTimes(2);
    await resolveBlockReferences(config, r);
    expect(r.readBlockDocumentByName).toHaveBeenCalledTimes(4);
  });

  it('unwraps single-key {value} data unless the key path starts with "value"', async () => {
    const json = {
      value: { key: { 'nested-key': 'nested-value' }, list: [{ 'list-key': 'list-value' }, 1, 2] },
    };
    const r = fakeResolver({ byName: { 'json/cfg': json, 'secret/pw': { value: 'hunter2' } } });
    const out = await resolveBlockReferences(
      {
        whole: '{{ prefect.blocks.json.cfg }}',
        unwrapped: '{{ prefect.blocks.json.cfg.key.nested-key }}',
        explicit: '{{ prefect.blocks.json.cfg.value.key }}',
        listed: '{{ prefect.blocks.json.cfg.value.list[0].list-key }}',
        secret: '{{ prefect.blocks.secret.pw }}',
        secretValue: '{{ prefect.blocks.secret.pw.value }}',
      },
      r,
    );
    expect(out).toEqual({
      whole: json.value,
      unwrapped: 'nested-value',
      explicit: { 'nested-key': 'nested-value' },
      listed: 'list-value',
      secret: 'hunter2',
      secretValue: 'hunter2',
    });
  });

  it('does not unwrap when the key path merely starts with "value" (Prefect quirk)', async () => {
    const r = fakeResolver({ byName: { 'json/cfg': { value: { valuesx: 1 } } } });
    await expectRenderError(
      resolveBlockReferences({ a: '{{ prefect.blocks.json.cfg.valuesx }}' }, r),
      "'valuesx'",
      'json/cfg',
    );
  });

  it('does not unwrap data with more keys than value', async () => {
    const r = fakeResolver({ byName: { 'custom/x': { value: 1, other: 2 } } });
    expect(await resolveBlockReferences({ a: '{{ prefect.blocks.custom.x }}' }, r)).toEqual({
      a: { value: 1, other: 2 },
    });
  });

  it('embeds str(value) for placeholders inside text, leaving other placeholders', async () => {
    const r = fakeResolver({
      byName: {
        'string/acct': { value: '123456789012' },
        'json/flag': { value: true },
        'json/n': { value: null },
      },
    });
    const out = await resolveBlockReferences(
      {
        arn: 'arn:aws:iam::{{ prefect.blocks.string.acct }}:role/x',
        flags: '{{ prefect.blocks.json.flag }}/{{ prefect.blocks.json.n }}/{{ prefect.variables.v }}',
      },
      r,
    );
    expect(out).toEqual({
      arn: 'arn:aws:iam::123456789012:role/x',
      flags: 'True/None/{{ prefect.variables.v }}',
    });
  });

  it('rejects an object or list embedded in text', async () => {
    const r = fakeResolver({ byName: { 'aws-credentials/prod': awsCreds } });
    await expectRenderError(
      resolveBlockReferences({ a: 'creds={{ prefect.blocks.aws-credentials.prod }}' }, r),
      '{{ prefect.blocks.aws-credentials.prod }}',
      'cannot be embedded',
    );
  });

  it('rejects a placeholder with fewer than two parts', async () => {
    const r = fakeResolver({});
    await expectRenderError(
      resolveBlockReferences({ a: '{{ prefect.blocks.secret }}' }, r),
      '{{ prefect.blocks.secret }}',
      '<block-type-slug>.<block-document-name>',
    );
    expect(r.readBlockDocumentByName).not.toHaveBeenCalled();
  });

  it('rejects a missing key path', async () => {
    const r = fakeResolver({ byName: { 'aws-credentials/prod': awsCreds } });
    await expectRenderError(
      resolveBlockReferences({ a: '{{ prefect.blocks.aws-credentials.prod.profile_name }}' }, r),
      "'profile_name'",
      'aws-credentials/prod',
    );
  });

  it('turns a 404 by name into "Block not found" naming slug and name', async () => {
    const r = fakeResolver({});
    const error = await expectRenderError(
      resolveBlockReferences({ a: '{{ prefect.blocks.aws-credentials.missing }}' }, r),
      'Block not found',
      "'missing'",
      "'aws-credentials'",
    );
    expect(error.details).toEqual({ blockTypeSlug: 'aws-credentials', blockDocumentName: 'missing' });
    expect((error.cause as { code: string }).code).toBe(kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND);
  });

  it('turns a 404 by id into "Block not found" naming the id', async () => {
    const r = fakeResolver({});
    await expectRenderError(
      resolveBlockReferences({ a: { $ref: { block_document_id: 'gone' } } }, r),
      'Block not found',
      "'gone'",
    );
  });

  it('lets other resolver errors through unchanged', async () => {
    const apiError = new StevedoreError(kernelErrorCodes.PREFECT_API, 'HTTP 503', { retryable: true });
    const r = fakeResolver({});
    r.readBlockDocumentByName.mockRejectedValueOnce(apiError);
    await expect(resolveBlockReferences({ a: '{{ prefect.blocks.s.n }}' }, r)).rejects.toBe(apiError);
  });

  it('honours an aborted signal before fetching', async () => {
    const r = fakeResolver({ byName: { 's/n': { value: 1 } } });
    const controller = new AbortController();
    const reason = new Error('stopping');
    controller.abort(reason);
    await expect(
      resolveBlockReferences({ a: '{{ prefect.blocks.s.n }}' }, r, { signal: controller.signal }),
    ).rejects.toBe(reason);
    expect(r.readBlockDocumentByName).not.toHaveBeenCalled();
  });

  it('leaves non-strings and strings without block placeholders alone', async () => {
    const r = fakeResolver({});
    const config = { n: 1, b: false, z: null, s: '{{ prefect.variables.x }}', t: 'plain' };
    expect(await resolveBlockReferences(config, r)).toEqual(config);
  });
});

describe('resolveVariables (spec §1.6 pass 3)', () => {
  it('replaces whole-string placeholders with the raw JSON value, or "" when missing', async () => {
    const r = fakeResolver({ variables: { image: 'repo/img:1', cpu: 512, cfg: { a: [1] }, nothing: null } });
    const out = await resolveVariables(
      {
        image: '{{ prefect.variables.image }}',
        cpu: '{{ prefect.variables.cpu }}',
        cfg: '{{prefect.variables.cfg}}',
        nothing: '{{ prefect.variables.nothing }}',
        missing: '{{ prefect.variables.missing }}',
      },
      r,
    );
    expect(out).toEqual({ image: 'repo/img:1', cpu: 512, cfg: { a: [1] }, nothing: null, missing: '' });
  });

  it('embeds str(value), or "" when missing, and fetches each name once', async () => {
    const r = fakeResolver({ variables: { tag: 'v1', debug: true, cfg: { a: 1 } } });
    const out = await resolveVariables(
      {
        image: 'repo/img:{{ prefect.variables.tag }}',
        env: { DEBUG: 'debug={{ prefect.variables.debug }}', CFG: 'cfg={{ prefect.variables.cfg }}' },
        list: ['{{ prefect.variables.tag }}-{{ prefect.variables.missing }}', 3],
      },
      r,
    );
    expect(out).toEqual({
      image: 'repo/img:v1',
      env: { DEBUG: 'debug=True', CFG: "cfg={'a': 1}" },
      list: ['v1-', 3],
    });
    expect(r.readVariable).toHaveBeenCalledTimes(4);
  });

  it('resolves variable placeholders that block data brought in (passes run in order)', async () => {
    const r = fakeResolver({
      byName: { 'json/cfg': { value: { image: 'repo:{{ prefect.variables.tag }}' } } },
      variables: { tag: 'v2' },
    });
    const withBlocks = await resolveBlockReferences({ cfg: '{{ prefect.blocks.json.cfg }}' }, r);
    expect(await resolveVariables(withBlocks, r)).toEqual({ cfg: { image: 'repo:v2' } });
  });

  it('does not re-render substituted text', async () => {
    const r = fakeResolver({ variables: { a: '{{ prefect.variables.b }}', b: 'B' } });
    expect(await resolveVariables({ x: '{{ prefect.variables.a }}/{{ prefect.variables.b }}' }, r)).toEqual({
      x: '{{ prefect.variables.b }}/B',
    });
  });

  it('treats a not-found rejection as a missing variable and lets other errors through', async () => {
    const r = fakeResolver({});
    r.readVariable.mockRejectedValueOnce(
      Object.assign(new Error('404'), { code: kernelErrorCodes.PREFECT_OBJECT_NOT_FOUND }),
    );
    expect(await resolveVariables({ a: '{{ prefect.variables.x }}' }, r)).toEqual({ a: '' });
    const apiError = new StevedoreError(kernelErrorCodes.PREFECT_API, 'HTTP 500');
    r.readVariable.mockRejectedValueOnce(apiError);
    await expect(resolveVariables({ a: '{{ prefect.variables.y }}' }, r)).rejects.toBe(apiError);
  });

  it('leaves other placeholders and non-strings alone', async () => {
    const r = fakeResolver({});
    const config = { a: '{{ prefect.blocks.s.n }}', b: 2, c: [true, null] };
    expect(await resolveVariables(config, r)).toEqual(config);
    expect(r.readVariable).not.toHaveBeenCalled();
  });
});

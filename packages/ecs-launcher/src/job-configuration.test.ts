import type { JobConfiguration } from '@stevedore/kernel';
import { isStevedoreError } from '@stevedore/kernel';
import { describe, expect, it } from 'vitest';
import { ecsErrorCodes } from './errors.js';
import { inferContainerName, parseEcsJobConfiguration } from './job-configuration.js';

/** What the default template renders to for an all-default pool (spec §2.2), after prepare_for_flow_run. */
function rendered(extra: Record<string, unknown> = {}): JobConfiguration {
  return {
    command: 'prefect flow-run execute',
    env: { PREFECT_API_URL: 'http://prefect/api', PREFECT__FLOW_RUN_ID: 'run-1' },
    labels: { 'prefect.io/flow-run-id': 'run-1' },
    name: 'crimson-fox',
    task_definition: { containerDefinitions: [{}] },
    task_run_request: { launchType: 'FARGATE', overrides: { containerOverrides: [{}] } },
    stream_output: false,
    task_start_timeout_seconds: 0,
    task_watch_poll_interval: 0,
    auto_deregister_task_definition: false,
    match_latest_revision_in_family: false,
    ...extra,
  };
}

function invalid(configuration: JobConfiguration): string {
  try {
    parseEcsJobConfiguration(configuration);
  } catch (e) {
    expect(isStevedoreError(e, ecsErrorCodes.JOB_CONFIGURATION_INVALID)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('parseEcsJobConfiguration', () => {
  it('applies the reference defaults to an all-default render', () => {
    const config = parseEcsJobConfiguration(rendered());
    expect(config).toMatchObject({
      aws_credentials: {
        region_name: null,
        aws_access_key_id: null,
        aws_client_parameters: { endpoint_url: null },
      },
      configure_cloudwatch_logs: null,
      cloudwatch_logs_options: {},
      cloudwatch_logs_prefix: null,
      network_configuration: {},
      vpc_id: null,
      container_name: null,
      cluster: null,
      execution_role_arn: null,
      prefect_api_key_secret_arn: null,
      auto_deregister_task_definition: false,
      match_latest_revision_in_family: false,
    });
    expect(config).not.toHaveProperty('stream_output');
  });

  it('coerces env values to strings like Python str() and drops nulls', () => {
    const config = parseEcsJobConfiguration(rendered({ env: { A: 1, B: true, C: null, D: 'x' } }));
    expect(config.env).toEqual({ A: '1', B: 'True', D: 'x' });
  });

  it('reads rendered text booleans the way pydantic does', () => {
    const config = parseEcsJobConfiguration(
      rendered({
        configure_cloudwatch_logs: 'True',
        execution_role_arn: 'arn:role',
        auto_deregister_task_definition: 'no',
      }),
    );
    expect(config.configure_cloudwatch_logs).toBe(true);
    expect(config.auto_deregister_task_definition).toBe(false);
  });

  it('removes PREFECT_API_KEY / PREFECT_API_AUTH_STRING from env when their secret ARNs are set, and tolerates absence', () => {
    const config = parseEcsJobConfiguration(
      rendered({
        env: { PREFECT_API_KEY: 'pnu_secret', OTHER: '1' },
        prefect_api_key_secret_arn: 'arn:aws:secretsmanager:us-east-1:1:secret:k',
        prefect_api_auth_string_secret_arn: 'arn:aws:secretsmanager:us-east-1:1:secret:a',
      }),
    );
    expect(config.env).toEqual({ OTHER: '1' });
  });

  it('reports schema errors with the field path', () => {
    const message = invalid(rendered({ cloudwatch_logs_options: { a: 1 } }));
    expect(message).toContain('cloudwatch_logs_options.a');
  });

  describe('validators (spec §2.3), same conditions, messages naming the same fields', () => {
    it('1: a task definition or a task definition ARN is required', () => {
      const message = invalid(rendered({ task_definition: {} }));
      expect(message).toContain('task_definition: expected a task_definition, or a task definition ARN');
      expect(message).toContain('task_definition_arn job variable');
      expect(() =>
        parseEcsJobConfiguration(
          rendered({ task_definition: {}, task_run_request: { taskDefinition: 'arn:td' } }),
        ),
      ).not.toThrow();
    });

    it('3: at least one container must be essential', () => {
      const message = invalid(
        rendered({
          task_definition: {
            containerDefinitions: [
              { name: 'a', essential: false },
              { name: 'b', essential: false },
            ],
          },
        }),
      );
      expect(message).toContain(
        'task_definition.containerDefinitions: expected at least one container marked as essential',
      );
      expect(message).toContain('(a, b)');
      expect(() =>
        parseEcsJobConfiguration(
          rendered({
            task_definition: { containerDefinitions: [{ name: 'a', essential: false }, { name: 'b' }] },
          }),
        ),
      ).not.toThrow();
    });

    it('4: configure_cloudwatch_logs needs an execution role unless the definition or an ARN has one', () => {
      const message = invalid(rendered({ configure_cloudwatch_logs: true }));
      expect(message).toContain(
        'execution_role_arn: expected an execution role when configure_cloudwatch_logs is enabled',
      );
      for (const ok of [
        { execution_role_arn: 'arn:role' },
        { task_definition: { executionRoleArn: 'arn:role', containerDefinitions: [{}] } },
        { task_run_request: { taskDefinition: 'arn:td' } },
      ]) {
        expect(() =>
          parseEcsJobConfiguration(rendered({ configure_cloudwatch_logs: true, ...ok })),
        ).not.toThrow();
      }
    });

    it('5: cloudwatch_logs_options requires configure_cloudwatch_logs', () => {
      const message = invalid(rendered({ cloudwatch_logs_options: { 'awslogs-group': 'g' } }));
      expect(message).toContain('cloudwatch_logs_options: expected configure_cloudwatch_logs enabled');
      expect(message).toContain('set the configure_cloudwatch_logs job variable to true');
    });

    it('6: a custom network_configuration requires vpc_id', () => {
      const message = invalid(rendered({ network_configuration: { subnets: ['subnet-1'] } }));
      expect(message).toContain('vpc_id: expected a vpc_id alongside a custom network_configuration');
    });

    it('reports every failing validator at once', () => {
      const message = invalid(
        rendered({
          task_definition: {},
          cloudwatch_logs_options: { a: 'b' },
          network_configuration: { x: 1 },
        }),
      );
      expect(message).toMatch(/^Invalid ECS job configuration \(3 problems\):/);
    });
  });

  it('2: infers container_name when it is null', () => {
    const config = parseEcsJobConfiguration(
      rendered({ task_definition: { containerDefinitions: [{ name: 'sidecar' }, { name: 'app' }] } }),
    );
    expect(config.container_name).toBe('sidecar');
    expect(
      parseEcsJobConfiguration(
        rendered({ container_name: 'app', task_definition: { containerDefinitions: [{ name: 'x' }] } }),
      ).container_name,
    ).toBe('app');
  });
});

describe('inferContainerName', () => {
  it.each([
    [[{ name: 'sidecar' }, { name: 'prefect' }], 'prefect'],
    [[{ name: 'sidecar' }, { name: 'flow' }], 'flow'],
    [[{ name: 'flow' }, { name: 'prefect' }], 'prefect'],
    [[{ name: 'first' }, { name: 'second' }], 'first'],
    [[{ image: 'x' }, { name: 'second' }], null],
    [[], null],
  ])('%j → %j', (containerDefinitions, expected) => {
    expect(inferContainerName({ containerDefinitions })).toBe(expected);
  });
});

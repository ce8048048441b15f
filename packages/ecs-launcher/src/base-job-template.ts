import { readFileSync } from 'node:fs';
import type { BaseJobTemplate } from '@stevedore/kernel';
import { EcsError, ecsErrorCodes } from './errors.js';

/**
 * Where the packaged template lives. `src/` and `dist/` both sit one level below the package root, so the
 * same relative URL works from sources (tests) and from the build.
 */
const TEMPLATE_URL = new URL('../assets/ecs-base-job-template.json', import.meta.url);

/**
 * Reads the `ecs` work pool's default base job template shipped in `assets/` (a copy of prefect-aws's; see
 * the README for its provenance). Returns a fresh object on every call.
 *
 * @throws `ECS_BASE_JOB_TEMPLATE_UNREADABLE` when the asset is missing or not JSON (a broken install).
 * @public
 */
export function loadEcsBaseJobTemplate(): BaseJobTemplate {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(TEMPLATE_URL, 'utf8'));
  } catch (e) {
    throw new EcsError(
      ecsErrorCodes.BASE_JOB_TEMPLATE_UNREADABLE,
      `Cannot read the ECS base job template at ${TEMPLATE_URL.pathname}. Reinstall @stevedore/ecs-launcher (its "assets" folder is missing or damaged).`,
      { cause: e },
    );
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    !('job_configuration' in parsed) ||
    !('variables' in parsed)
  ) {
    throw new EcsError(
      ecsErrorCodes.BASE_JOB_TEMPLATE_UNREADABLE,
      `The ECS base job template at ${TEMPLATE_URL.pathname} has no job_configuration or variables. Reinstall @stevedore/ecs-launcher.`,
    );
  }
  return parsed as BaseJobTemplate;
}

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ConfigIssue, parseTemplateDocument } from '@stevedore/kernel';

const DEFAULT_FILES = ['stevedore.config.yaml', 'stevedore.config.yml', 'stevedore.config.json'];

/** Reads `--config FILE`, or `stevedore.config.{yaml,json}` from the working directory when present. */
export function readConfigFile(
  explicit: string | undefined,
  cwd: string,
): { values: Record<string, unknown>; file?: string; issues: ConfigIssue[] } {
  const file = explicit
    ? resolve(cwd, explicit)
    : DEFAULT_FILES.map((f) => resolve(cwd, f)).find((f) => existsSync(f));
  if (!file) return { values: {}, issues: [] };
  if (!existsSync(file)) {
    return {
      values: {},
      file,
      issues: [
        {
          path: '--config',
          expected: 'an existing JSON or YAML file',
          received: file,
          fix: 'check the path given to --config',
        },
      ],
    };
  }
  try {
    const doc = parseTemplateDocument(readFileSync(file, 'utf8'), file);
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
      return {
        values: {},
        file,
        issues: [
          {
            path: file,
            expected: 'a mapping of settings',
            received: Array.isArray(doc) ? 'a list' : typeof doc,
            fix: 'write the settings as keys at the top level',
          },
        ],
      };
    }
    return { values: doc as Record<string, unknown>, file, issues: [] };
  } catch (e) {
    return {
      values: {},
      file,
      issues: [
        {
          path: file,
          expected: 'valid JSON or YAML',
          received: (e as Error).message,
          fix: 'fix the syntax of the config file',
        },
      ],
    };
  }
}

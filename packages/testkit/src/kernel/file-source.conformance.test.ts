import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createTemplateLoader,
  FileTemplateSource,
  isStevedoreError,
  kernelErrorCodes,
} from '@stevedore/kernel';
import { describe, expect, it } from 'vitest';
import { describeTemplateSourceConformance } from '../conformance/template-source.js';

describeTemplateSourceConformance('file:', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stevedore-file-source-'));
  const json = { family: 'prefect', containerDefinitions: [{ name: 'prefect', image: 'x' }] };
  await writeFile(join(dir, 'task.json'), JSON.stringify(json));
  // A YAML file with a .json extension: parsing is chosen by content, not extension.
  await writeFile(join(dir, 'kwargs.json'), 'cluster: default\ntags:\n  - key: a\n    value: "1"\n');
  await writeFile(join(dir, 'bad.yaml'), 'a: [unclosed\n  b: }');
  return {
    source: new FileTemplateSource(),
    json: { url: pathToFileURL(join(dir, 'task.json')), expected: json },
    yaml: {
      url: pathToFileURL(join(dir, 'kwargs.json')),
      expected: { cluster: 'default', tags: [{ key: 'a', value: '1' }] },
    },
    missing: pathToFileURL(join(dir, 'nope.yaml')),
    invalid: pathToFileURL(join(dir, 'bad.yaml')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('template loader', () => {
  it('treats plain paths as files and explains a missing scheme', async () => {
    const loader = createTemplateLoader([new FileTemplateSource()], '/nonexistent-dir');
    const e = await loader
      .load('s3://bucket/key.json', { signal: AbortSignal.timeout(1000) })
      .catch((x: unknown) => x);
    expect(isStevedoreError(e, kernelErrorCodes.TEMPLATE_SOURCE_MISSING)).toBe(true);
    expect((e as Error).message).toBe(
      "No template source for 's3:' (reference 's3://bucket/key.json'). Installed: file:. Add the plugin @stevedore/template-s3.",
    );
    const missing = await loader
      .load('task.yaml', { signal: AbortSignal.timeout(1000) })
      .catch((x: unknown) => x);
    expect((missing as Error).message).toContain('/nonexistent-dir/task.yaml does not exist');
  });
});

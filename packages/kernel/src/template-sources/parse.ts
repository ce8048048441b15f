import { createRequire } from 'node:module';

let yaml: typeof import('yaml') | undefined;
/** `yaml`, loaded on the first YAML document (JSON ones never need it; ~70 CommonJS modules). */
const parseYaml = (text: string): unknown => {
  yaml ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yaml.parse(text);
};

import { kernelErrorCodes, StevedoreError } from '../errors.js';

/**
 * Parses a template document as JSON or YAML, chosen by content (JSON is valid YAML, but JSON errors
 * are clearer, so JSON is tried first when the text looks like JSON).
 * @throws `KERNEL_TEMPLATE_INVALID` naming the location and the parser's reason.
 * @public
 */
export function parseTemplateDocument(text: string, location: string): unknown {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed === '') {
    throw new StevedoreError(
      kernelErrorCodes.TEMPLATE_INVALID,
      `Template ${location} is empty: expected a JSON or YAML document.`,
    );
  }
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed);
    } catch (jsonError) {
      // Flow-style YAML also starts with '{'; fall through to YAML and report the JSON error if both fail.
      try {
        return parseYaml(trimmed);
      } catch {
        throw new StevedoreError(
          kernelErrorCodes.TEMPLATE_INVALID,
          `Template ${location} is not valid JSON: ${(jsonError as Error).message}.`,
          { cause: jsonError },
        );
      }
    }
  }
  try {
    return parseYaml(trimmed);
  } catch (yamlError) {
    throw new StevedoreError(
      kernelErrorCodes.TEMPLATE_INVALID,
      `Template ${location} is neither JSON nor valid YAML: ${(yamlError as Error).message}`,
      { cause: yamlError },
    );
  }
}

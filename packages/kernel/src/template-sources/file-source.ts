import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { abortError, kernelErrorCodes, StevedoreError, TemplateNotFoundError } from '../errors.js';
import type { TemplateSource } from '../extension-points.js';
import { parseTemplateDocument } from './parse.js';

/**
 * The built-in `file:` template source: local JSON or YAML files.
 * @public
 */
export class FileTemplateSource implements TemplateSource {
  readonly scheme = 'file';

  async read(uri: URL, opts: { signal: AbortSignal }): Promise<unknown> {
    if (uri.protocol !== 'file:') {
      throw new StevedoreError(
        kernelErrorCodes.TEMPLATE_INVALID,
        `FileTemplateSource cannot read ${uri.href}: expected a file: URL.`,
      );
    }
    if (opts.signal.aborted) throw abortError(opts.signal);
    const path = fileURLToPath(uri);
    let text: string;
    try {
      text = await readFile(path, { encoding: 'utf8', signal: opts.signal });
    } catch (e) {
      if (opts.signal.aborted) throw abortError(opts.signal);
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new TemplateNotFoundError(
          `Template file ${path} does not exist. Check the path (relative paths are resolved from the working directory).`,
          { cause: e },
        );
      }
      if (code === 'EACCES' || code === 'EPERM') {
        throw new StevedoreError(
          kernelErrorCodes.TEMPLATE_NOT_FOUND,
          `Template file ${path} cannot be read: permission denied.`,
          { cause: e },
        );
      }
      if (code === 'EISDIR') {
        throw new StevedoreError(
          kernelErrorCodes.TEMPLATE_INVALID,
          `Template ${path} is a directory: expected a JSON or YAML file.`,
          { cause: e },
        );
      }
      throw e;
    }
    return parseTemplateDocument(text, path);
  }
}

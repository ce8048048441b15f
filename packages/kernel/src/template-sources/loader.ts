import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { kernelErrorCodes, StevedoreError } from '../errors.js';
import type { TemplateSource } from '../extension-points.js';

/**
 * Loads template documents through the installed {@link TemplateSource}s by URI scheme.
 * A reference without a scheme is a local path (resolved from `cwd`), as the Prefect 1 agent accepted.
 * @public
 */
export interface TemplateLoader {
  schemes(): string[];
  load(reference: string, opts: { signal: AbortSignal }): Promise<unknown>;
}

/** Turns `./x.yaml`, `/abs/x.json`, `file:…`, `s3://b/k` into a URL. @public */
export function templateReferenceToUrl(reference: string, cwd: string): URL {
  // Windows drive letters ("C:\x") are paths, not schemes.
  if (/^[a-zA-Z][a-zA-Z0-9+.-]+:/.test(reference)) return new URL(reference);
  return pathToFileURL(isAbsolute(reference) ? reference : resolve(cwd, reference));
}

/** @public */
export function createTemplateLoader(
  sources: readonly TemplateSource[],
  cwd: string = process.cwd(),
): TemplateLoader {
  const byScheme = new Map<string, TemplateSource>();
  for (const s of sources) if (!byScheme.has(s.scheme)) byScheme.set(s.scheme, s);
  return {
    schemes: () => [...byScheme.keys()],
    async load(reference, opts) {
      let url: URL;
      try {
        url = templateReferenceToUrl(reference, cwd);
      } catch (e) {
        throw new StevedoreError(
          kernelErrorCodes.TEMPLATE_INVALID,
          `Template reference '${reference}' is not a path or URL.`,
          {
            cause: e,
          },
        );
      }
      const scheme = url.protocol.replace(/:$/, '');
      const source = byScheme.get(scheme);
      if (!source) {
        const hint = scheme === 's3' ? ' Add the plugin @stevedore/template-s3.' : '';
        throw new StevedoreError(
          kernelErrorCodes.TEMPLATE_SOURCE_MISSING,
          `No template source for '${scheme}:' (reference '${reference}'). Installed: ${[...byScheme.keys()].map((s) => `${s}:`).join(', ') || 'none'}.${hint}`,
        );
      }
      return source.read(url, opts);
    },
  };
}

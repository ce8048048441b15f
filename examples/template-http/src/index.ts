import {
  abortError,
  definePlugin,
  kernelErrorCodes,
  parseTemplateDocument,
  StevedoreError,
  TemplateNotFoundError,
  type TemplateSource,
} from '@stevedore/kernel';

interface Cached {
  etag: string;
  text: string;
}

/**
 * Reads task-definition templates, run-task kwargs and base job templates from `https://` (or `http://`) URLs:
 * JSON or YAML by content, revalidated with `If-None-Match` when the server sent an ETag. Built only on the
 * kernel's public API — the worked example of the plugin authoring guide.
 */
export class HttpTemplateSource implements TemplateSource {
  private readonly cache = new Map<string, Cached>();

  constructor(
    readonly scheme: 'http' | 'https',
    private readonly fetchFn: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  async read(uri: URL, opts: { signal: AbortSignal }): Promise<unknown> {
    if (opts.signal.aborted) throw abortError(opts.signal);
    const cached = this.cache.get(uri.href);
    let res: Response;
    try {
      res = await this.fetchFn(uri, {
        signal: opts.signal,
        headers: {
          accept: 'application/json, application/yaml, text/yaml, */*',
          ...(cached ? { 'if-none-match': cached.etag } : {}),
        },
      });
    } catch (e) {
      if (opts.signal.aborted) throw abortError(opts.signal);
      throw new StevedoreError(
        kernelErrorCodes.TEMPLATE_NOT_FOUND,
        `Template ${uri.href} could not be fetched: ${(e as Error).message}.`,
        {
          cause: e,
        },
      );
    }
    let text: string;
    if (res.status === 304 && cached) text = cached.text;
    else if (res.status === 404 || res.status === 410)
      throw new TemplateNotFoundError(`Template ${uri.href} does not exist (HTTP ${res.status}).`);
    else if (!res.ok)
      throw new StevedoreError(
        kernelErrorCodes.TEMPLATE_NOT_FOUND,
        `Template ${uri.href} could not be read: HTTP ${res.status}.`,
      );
    else {
      text = await res.text();
      const etag = res.headers.get('etag');
      if (etag) this.cache.set(uri.href, { etag, text });
    }
    // Parsed on every read: callers get a fresh value they may change.
    return parseTemplateDocument(text, uri.href);
  }
}

/** The plugin: one TemplateSource per scheme. Load it with `stevedore start --plugin @stevedore-example/template-http`. */
export const templateHttpPlugin = definePlugin({
  id: 'template-http',
  kernel: '^0.1.0',
  packageName: '@stevedore-example/template-http',
  register(r) {
    r.provideTemplateSource({ create: () => new HttpTemplateSource('https') });
    r.provideTemplateSource({ create: () => new HttpTemplateSource('http') });
  },
});

/**
 * `@stevedore/template-s3`: the `s3://bucket/key` TemplateSource — task-definition templates, run-task kwargs and
 * base job templates stored in S3, JSON or YAML by content, revalidated by ETag, in whatever region the bucket is.
 * @packageDocumentation
 */
import type { S3Client } from '@aws-sdk/client-s3';
import {
  abortError,
  definePlugin,
  kernelErrorCodes,
  parseTemplateDocument,
  StevedoreError,
  TemplateNotFoundError,
  type TemplateSource,
} from '@stevedore/kernel';
import { z } from 'zod';

/** The plugin id, equal to the package suffix. @public */
export const PLUGIN_ID = 'template-s3';

/** The IAM action this package calls (`stevedore iam-policy`). @public */
export const TEMPLATE_S3_IAM_ACTIONS: readonly string[] = Object.freeze(['s3:GetObject']);

/** Settings (`plugins.template-s3`). @public */
export const TemplateS3ConfigSchema = z.strictObject({
  /** The region to start from; a bucket elsewhere is found through S3's redirect. Default: the SDK chain. */
  region: z.string().min(1).optional(),
});
/** @public */
export type TemplateS3Config = z.output<typeof TemplateS3ConfigSchema>;

interface Cached {
  etag: string;
  text: string;
}

function awsName(e: unknown): string {
  const err = e as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: number } };
  return typeof err.name === 'string' ? err.name : typeof err.Code === 'string' ? err.Code : 'Error';
}

function statusOf(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/**
 * Reads `s3://bucket/key` with GetObject. A document read before is revalidated with `If-None-Match` (a 304 costs
 * no transfer). Buckets in another region are followed (the SDK's `followRegionRedirects`). Errors name the bucket,
 * the key and, for AccessDenied, the IAM action — never an SDK stack trace.
 * @public
 */
export class S3TemplateSource implements TemplateSource {
  readonly scheme = 's3';
  private readonly cache = new Map<string, Cached>();
  private client: Promise<S3Client> | undefined;

  constructor(private readonly options: { client?: S3Client; region?: string } = {}) {}

  /** The S3 client, built at the first read: the SDK module is loaded only by workers that use s3:// (cold start). */
  private s3(): Promise<S3Client> {
    this.client ??= this.options.client
      ? Promise.resolve(this.options.client)
      : import('@aws-sdk/client-s3').then(
          ({ S3Client }) =>
            new S3Client({
              followRegionRedirects: true,
              ...(this.options.region ? { region: this.options.region } : {}),
            }),
        );
    return this.client;
  }

  async read(uri: URL, opts: { signal: AbortSignal }): Promise<unknown> {
    if (opts.signal.aborted) throw abortError(opts.signal);
    if (uri.protocol !== 's3:' || !uri.hostname || uri.pathname.length <= 1)
      throw new StevedoreError(
        kernelErrorCodes.TEMPLATE_INVALID,
        `'${uri.href}' is not an S3 object URL: expected s3://<bucket>/<key>.`,
      );
    const bucket = uri.hostname;
    const key = decodeURIComponent(uri.pathname.slice(1));
    const where = `s3://${bucket}/${key}`;
    const cached = this.cache.get(where);
    let text: string;
    try {
      const [client, { GetObjectCommand }] = await Promise.all([this.s3(), import('@aws-sdk/client-s3')]);
      const out = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, ...(cached ? { IfNoneMatch: cached.etag } : {}) }),
        { abortSignal: opts.signal },
      );
      text = (await out.Body?.transformToString('utf-8')) ?? '';
      if (out.ETag) this.cache.set(where, { etag: out.ETag, text });
    } catch (e) {
      if (opts.signal.aborted) throw abortError(opts.signal);
      const name = awsName(e);
      const status = statusOf(e);
      if (status === 304 && cached) text = cached.text;
      else if (name === 'NoSuchKey' || name === 'NotFound')
        throw new TemplateNotFoundError(
          `Template ${where} does not exist: bucket '${bucket}' has no key '${key}'.`,
        );
      else if (name === 'NoSuchBucket')
        throw new TemplateNotFoundError(`Template ${where}: bucket '${bucket}' does not exist.`);
      else if (name === 'AccessDenied' || status === 403)
        throw new StevedoreError(
          kernelErrorCodes.TEMPLATE_NOT_FOUND,
          `Template ${where}: access denied. The worker's AWS identity needs s3:GetObject on arn:aws:s3:::${bucket}/${key} (and the bucket policy must allow it).`,
        );
      else
        throw new StevedoreError(
          kernelErrorCodes.TEMPLATE_NOT_FOUND,
          `Template ${where} could not be read: ${name}: ${(e as Error).message ?? 'unknown error'}`,
        );
    }
    // Parsed on every read: callers get a fresh value they may change.
    return parseTemplateDocument(text, where);
  }
}

/**
 * The plugin: the `s3` TemplateSource, so `--task-definition s3://…`, `--run-task-kwargs s3://…`,
 * `--base-job-template s3://…` and `stevedore render --template s3://…` read from S3.
 * @public
 */
export const templateS3Plugin = definePlugin<TemplateS3Config>({
  id: PLUGIN_ID,
  kernel: '^0.1.0',
  packageName: '@stevedore/template-s3',
  configSchema: TemplateS3ConfigSchema,
  register(r) {
    r.provideTemplateSource({
      create: (_deps, config) => new S3TemplateSource(config?.region ? { region: config.region } : {}),
    });
    r.requireIamActions(TEMPLATE_S3_IAM_ACTIONS);
  },
});

import { createHash, randomBytes } from 'node:crypto';
import type { ServiceModel } from './model.js';

/** One stored object. */
interface S3Object {
  body: Buffer;
  etag: string;
  contentType: string;
  lastModified: Date;
}

interface Bucket {
  region: string;
  objects: Map<string, S3Object>;
  /** Keys (or `*`) GetObject is denied on, as a bucket policy or a role without s3:GetObject would. */
  denied: Set<string>;
}

/** An HTTP answer of the S3 REST API. */
export interface S3Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
  /** The operation, for the request record. */
  operation: string;
  errorCode?: string;
}

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === "'" ? '&apos;' : '&quot;',
  );
}

function httpDate(d: Date): string {
  return d.toUTCString();
}

/**
 * S3 over its REST protocol, path-style (`/bucket/key`; the SDK uses path style for an IP endpoint): PutObject
 * (for tests), GetObject (with `If-None-Match` → 304), HeadObject, HeadBucket, and the real errors — NoSuchKey,
 * NoSuchBucket, AccessDenied, and the 301 PermanentRedirect with `x-amz-bucket-region` for a bucket of another
 * region (what the SDK's region redirect follows). Operation names and their members come from the S3 model.
 */
export class S3Store {
  readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly region: string,
    private readonly model: ServiceModel,
  ) {}

  createBucket(name: string, region = this.region): void {
    if (!this.buckets.has(name)) this.buckets.set(name, { region, objects: new Map(), denied: new Set() });
  }

  putObject(
    bucket: string,
    key: string,
    body: string | Buffer,
    contentType = 'application/octet-stream',
  ): string {
    this.createBucket(bucket);
    const b = this.buckets.get(bucket) as Bucket;
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
    const etag = `"${createHash('md5').update(buf).digest('hex')}"`;
    b.objects.set(key, {
      body: buf,
      etag,
      contentType,
      lastModified: new Date(Math.floor(Date.now() / 1000) * 1000),
    });
    return etag;
  }

  deny(bucket: string, key = '*'): void {
    this.createBucket(bucket);
    this.buckets.get(bucket)?.denied.add(key);
  }

  private error(
    operation: string,
    status: number,
    code: string,
    message: string,
    extra: Record<string, string> = {},
    headers: Record<string, string> = {},
  ): S3Reply {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    const hostId = randomBytes(24).toString('base64');
    const fields = Object.entries(extra)
      .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`)
      .join('');
    return {
      status,
      operation,
      errorCode: code,
      headers: {
        'content-type': 'application/xml',
        'x-amz-request-id': requestId,
        'x-amz-id-2': hostId,
        ...headers,
      },
      body:
        operation === 'HeadObject' || operation === 'HeadBucket'
          ? '' // HEAD answers carry no body; the SDK names the error from the status
          : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${fields}<RequestId>${requestId}</RequestId><HostId>${hostId}</HostId></Error>`,
    };
  }

  /** Handles one request; `path` is the URL path (percent-encoded), `signingRegion` the SigV4 scope's region. */
  handle(
    method: string,
    path: string,
    headers: Record<string, string | undefined>,
    body: Buffer,
    signingRegion: string,
  ): S3Reply {
    const [, rawBucket = '', ...rest] = path.split('?')[0]?.split('/') ?? [];
    const bucketName = decodeURIComponent(rawBucket);
    const key = rest.map((s) => decodeURIComponent(s)).join('/');
    const operation =
      method === 'PUT' && key
        ? 'PutObject'
        : method === 'GET' && key
          ? 'GetObject'
          : method === 'HEAD' && key
            ? 'HeadObject'
            : method === 'HEAD'
              ? 'HeadBucket'
              : `${method} ${path}`;
    if (!this.model.operation(operation))
      return this.error(
        operation,
        405,
        'MethodNotAllowed',
        'The specified method is not allowed against this resource.',
      );
    if (operation === 'PutObject') {
      const etag = this.putObject(
        bucketName,
        key,
        body,
        headers['content-type'] ?? 'application/octet-stream',
      );
      return { status: 200, operation, headers: { etag }, body: '' };
    }
    const bucket = this.buckets.get(bucketName);
    if (!bucket)
      return this.error(operation, 404, 'NoSuchBucket', 'The specified bucket does not exist', {
        BucketName: bucketName,
      });
    if (bucket.region !== signingRegion)
      return this.error(
        operation,
        301,
        'PermanentRedirect',
        'The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.',
        { Endpoint: `${bucketName}.s3.${bucket.region}.amazonaws.com`, Bucket: bucketName },
        { 'x-amz-bucket-region': bucket.region },
      );
    if (operation === 'HeadBucket')
      return { status: 200, operation, headers: { 'x-amz-bucket-region': bucket.region }, body: '' };
    if (bucket.denied.has('*') || bucket.denied.has(key))
      return this.error(operation, 403, 'AccessDenied', 'Access Denied');
    const object = bucket.objects.get(key);
    if (!object)
      return this.error(operation, 404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
    const common = {
      etag: object.etag,
      'last-modified': httpDate(object.lastModified),
      'accept-ranges': 'bytes',
    };
    const inm = headers['if-none-match'];
    if (
      inm
        ?.split(',')
        .map((s) => s.trim())
        .includes(object.etag)
    )
      return { status: 304, operation, headers: common, body: '' };
    return {
      status: 200,
      operation,
      headers: {
        ...common,
        'content-type': object.contentType,
        'content-length': String(object.body.length),
      },
      body: operation === 'HeadObject' ? '' : object.body,
    };
  }
}

import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { BackupStore, StoredObject } from './backupStore.js';

export interface S3BackupStoreOptions {
  bucket: string;
  /** Prepended to every object name (`backups/` keeps them apart from other keys); '' for none. */
  prefix?: string;
  /** Bytes per part of a multipart upload (at least 5 MiB). Memory held: `partSize * queueSize`. */
  partSize?: number;
  /** Parts uploaded at once. */
  queueSize?: number;
  /** Server-side encryption S3 applies to each object (`x-amz-server-side-encryption`); none if absent. */
  serverSideEncryption?: 'AES256' | 'aws:kms' | undefined;
  /** The KMS key of `aws:kms` (absent: the bucket's default). */
  kmsKeyId?: string | undefined;
}

const MiB = 1024 * 1024;

/**
 * Artifacts as objects in an S3 bucket (AWS or an S3-compatible server such as MinIO).
 * `put` streams a multipart upload, which S3 makes visible only when it is completed, so a
 * name only ever holds a whole artifact; an upload that fails is aborted, and one a crash
 * leaves behind is never listed (a bucket lifecycle rule `AbortIncompleteMultipartUpload`
 * frees its parts).
 */
export class S3BackupStore implements BackupStore {
  readonly kind = 's3';
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly encryption: { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string };

  constructor(
    private readonly client: S3Client,
    options: S3BackupStoreOptions,
  ) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    this.partSize = Math.max(options.partSize ?? 8 * MiB, 5 * MiB);
    this.queueSize = options.queueSize ?? 4;
    this.encryption = {
      ...(options.serverSideEncryption ? { ServerSideEncryption: options.serverSideEncryption } : {}),
      ...(options.serverSideEncryption === 'aws:kms' && options.kmsKeyId ? { SSEKMSKeyId: options.kmsKeyId } : {}),
    };
  }

  /** Fails unless the bucket is there and the credentials may use it (run once at start). */
  async check(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      throw new Error(`S3 bucket "${this.bucket}" cannot be used: ${describe(error)}`, { cause: error });
    }
  }

  /** Closes the client's connections (the service's stop). */
  close(): void {
    this.client.destroy();
  }

  async put(name: string, data: Readable): Promise<StoredObject> {
    const key = this.keyOf(name);
    // The source's own error says what went wrong; the upload's may only say it was aborted,
    // or that aborting failed.
    let sourceError: unknown;
    const onError = (error: unknown) => {
      sourceError ??= error;
    };
    data.on('error', onError);
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: data,
        ContentType: 'application/octet-stream',
        ...this.encryption,
      },
      partSize: this.partSize,
      queueSize: this.queueSize,
      // On failure the multipart upload is aborted, so its parts are not kept.
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      if (sourceError !== undefined) throw sourceError;
      throw error;
    } finally {
      data.off('error', onError);
    }
    const info = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    return { name, size: info.ContentLength ?? 0, modified: info.LastModified ?? new Date() };
  }

  async get(name: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const key = this.keyOf(name);
    let response: GetObjectCommandOutput;
    try {
      response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    const body = response.Body as AsyncIterable<Uint8Array> | undefined;
    if (!body) return undefined;
    const expected = response.ContentLength;
    return (async function* () {
      let received = 0;
      for await (const chunk of body) {
        received += chunk.byteLength;
        yield chunk;
      }
      // A connection cut short can end the body early without an error.
      if (expected !== undefined && received !== expected) {
        throw new Error(`object ${name} is damaged: read ${received} of ${expected} bytes`);
      }
    })();
  }

  async delete(name: string): Promise<boolean> {
    const key = this.keyOf(name);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    return true;
  }

  async list(prefix = ''): Promise<StoredObject[]> {
    const found: StoredObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key?.startsWith(this.prefix)) continue;
        found.push({
          name: object.Key.slice(this.prefix.length),
          size: object.Size ?? 0,
          modified: object.LastModified ?? new Date(0),
        });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  private keyOf(name: string): string {
    if (name === '' || name.includes('\0')) throw new Error(`object name "${name}" is not a valid S3 key`);
    return this.prefix + name;
  }
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

function describe(error: unknown): string {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const status = e?.$metadata?.httpStatusCode;
  return [e?.name, status ? `HTTP ${status}` : undefined, e?.message].filter(Boolean).join(', ');
}

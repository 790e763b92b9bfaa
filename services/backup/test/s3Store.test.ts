import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BackupStore } from '../src/store/index.js';

// s3rver (a real S3 HTTP server on the local filesystem) ships no types.
interface S3rverServer {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}) => S3rverServer;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;

const BUCKET = 'ttm-backups';
const MiB = 1024 * 1024;

let dir: string;
let server: S3rverServer;
let client: S3Client;
const sentCommands: string[] = [];

beforeAll(async () => {
  // Its own directory and a free port: two runs at once do not meet.
  dir = await mkdtemp(join(tmpdir(), 'ttm-s3rver-'));
  server = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true, configureBuckets: [] });
  const { port } = await server.run();
  client = new S3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    // s3rver's fixed test credentials.
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  // Records each command the store sends, to see the multipart upload happen.
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        const result = await next(args);
        sentCommands.push(`${context.commandName}`);
        return result;
      } catch (error) {
        sentCommands.push(`${context.commandName} failed: ${(error as Error).name}`);
        throw error;
      }
    },
    { step: 'initialize' },
  );
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  client?.destroy();
  await server?.close().catch(() => undefined);
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function bytes(chunks: AsyncIterable<Uint8Array> | undefined): Promise<Buffer | undefined> {
  if (!chunks) return undefined;
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** `total` random bytes in 64 KiB chunks, read lazily like a snapshot stream. */
function stream(total: number, failAfter?: number): { readable: Readable; sent: Buffer[] } {
  const sent: Buffer[] = [];
  let produced = 0;
  const readable = new Readable({
    read() {
      if (failAfter !== undefined && produced >= failAfter) {
        this.destroy(new Error('snapshot failed'));
        return;
      }
      if (produced >= total) {
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(64 * 1024, total - produced));
      produced += chunk.length;
      sent.push(chunk);
      this.push(chunk);
    },
  });
  return { readable, sent };
}

describe('S3BackupStore against s3rver', () => {
  it('streams a multipart artifact in and out, lists by prefix, replaces and deletes', async () => {
    const store = new S3BackupStore(client, { bucket: BUCKET, prefix: 'backups/', partSize: 5 * MiB });
    await store.check();
    // 12 MiB in 5 MiB parts: three parts.
    const big = stream(12 * MiB + 123);
    sentCommands.length = 0;
    const stored = await store.put('t1/b1/a.ttmb.gz', big.readable);
    const sent = Buffer.concat(big.sent);
    expect(sentCommands.filter((c) => c === 'UploadPartCommand')).toHaveLength(3);
    expect(sentCommands).toContain('CompleteMultipartUploadCommand');
    expect(stored).toMatchObject({ name: 't1/b1/a.ttmb.gz', size: sent.length });
    expect(stored.modified).toBeInstanceOf(Date);
    const read = await bytes(await store.get('t1/b1/a.ttmb.gz'));
    expect(read?.length).toBe(sent.length);
    expect(sha256(read ?? Buffer.alloc(0))).toBe(sha256(sent));

    await store.put('t1/b2/a.ttmb.gz', Readable.from([Buffer.from('hello '), Buffer.from('world')]));
    await store.put('t1/b2/a.ttmb.gz', Readable.from([Buffer.from('replaced')]));
    expect((await bytes(await store.get('t1/b2/a.ttmb.gz')))?.toString()).toBe('replaced');
    expect((await store.list('t1/b2/')).map((o) => [o.name, o.size])).toEqual([['t1/b2/a.ttmb.gz', 8]]);
    expect((await store.list()).map((o) => o.name).sort()).toEqual(['t1/b1/a.ttmb.gz', 't1/b2/a.ttmb.gz']);

    // The prefix keeps the store to its own keys, both ways.
    const unprefixed = new S3BackupStore(client, { bucket: BUCKET });
    expect((await unprefixed.list()).map((o) => o.name).sort()).toEqual([
      'backups/t1/b1/a.ttmb.gz',
      'backups/t1/b2/a.ttmb.gz',
    ]);
    expect(await unprefixed.get('t1/b2/a.ttmb.gz')).toBeUndefined();

    expect(await store.delete('t1/b1/a.ttmb.gz')).toBe(true);
    expect(await store.delete('t1/b1/a.ttmb.gz')).toBe(false);
    expect(await store.get('t1/b1/a.ttmb.gz')).toBeUndefined();
    expect((await store.list()).map((o) => o.name)).toEqual(['t1/b2/a.ttmb.gz']);
  });

  it('lists nothing for an upload whose source fails, in its first part or after some parts', async () => {
    const store = new S3BackupStore(client, { bucket: BUCKET, prefix: 'failing/', partSize: 5 * MiB });
    sentCommands.length = 0;
    await expect(store.put('t2/b1/a.ttmb.gz', stream(1 * MiB, 100 * 1024).readable)).rejects.toThrow('snapshot failed');
    // Two whole parts went up before the source failed: the multipart upload never completes.
    await expect(store.put('t2/b2/a.ttmb.gz', stream(20 * MiB, 11 * MiB).readable)).rejects.toThrow('snapshot failed');
    // The store asks for the parts to be dropped (s3rver answers MethodNotAllowed: it does not
    // implement AbortMultipartUpload, and the put still fails with the source's own error).
    expect(sentCommands.filter((c) => c.startsWith('UploadPartCommand'))).toHaveLength(2);
    expect(sentCommands.some((c) => c.startsWith('AbortMultipartUploadCommand'))).toBe(true);
    expect(sentCommands).not.toContain('CompleteMultipartUploadCommand');
    expect(await store.list()).toEqual([]);
    expect(await store.get('t2/b1/a.ttmb.gz')).toBeUndefined();
    expect(await store.get('t2/b2/a.ttmb.gz')).toBeUndefined();
    expect(await store.delete('t2/b2/a.ttmb.gz')).toBe(false);
  });

  it('refuses a bucket that is not there at start', async () => {
    const store = new S3BackupStore(client, { bucket: 'no-such-bucket' });
    await expect(store.check()).rejects.toThrow(/S3 bucket "no-such-bucket" cannot be used/);
  });
});

describe('server-side encryption (issue 12 item 8)', () => {
  it('asks S3 to encrypt every artifact it uploads (x-amz-server-side-encryption), multipart or not', async () => {
    const headers: Record<string, string | undefined>[] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (context.commandName === 'PutObjectCommand' || context.commandName === 'CreateMultipartUploadCommand') {
          headers.push({
            command: context.commandName,
            sse: request.headers?.['x-amz-server-side-encryption'],
            kms: request.headers?.['x-amz-server-side-encryption-aws-kms-key-id'],
          });
        }
        return next(args);
      },
      { step: 'build', name: 'recordSseHeaders' },
    );
    try {
      const aes = new S3BackupStore(client, { bucket: BUCKET, prefix: 'sse/', serverSideEncryption: 'AES256' });
      await aes.put('small.ttmb.gz', Readable.from([randomBytes(1024)]));
      const big = new S3BackupStore(client, {
        bucket: BUCKET,
        prefix: 'sse/',
        partSize: 5 * MiB,
        serverSideEncryption: 'aws:kms',
        kmsKeyId: 'alias/ttm-backups',
      });
      // s3rver stores the object whatever the header says: the request is what is checked here.
      await big.put('big.ttmb.gz', stream(11 * MiB).readable).catch(() => undefined);
      expect(headers).toEqual([
        { command: 'PutObjectCommand', sse: 'AES256', kms: undefined },
        { command: 'CreateMultipartUploadCommand', sse: 'aws:kms', kms: 'alias/ttm-backups' },
      ]);
    } finally {
      client.middlewareStack.remove('recordSseHeaders');
    }
  });
});

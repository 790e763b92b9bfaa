import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { KeyEncryptionKeys, WrappedKey } from '@ttm/service-kit';
import { ArtifactUnreadable } from './format.js';

/**
 * An encrypted artifact: the gzipped artifact cut into segments, each sealed with AES-256-GCM
 * under a data key of its own backup, the data key wrapped by the KEK.
 *
 *   TTMBENC1 | u32 header length | header JSON | segment...
 *   segment = u32 ciphertext length | ciphertext | 16-byte tag
 *
 * Each segment's nonce is the header's 7-byte prefix, the segment's number (u32) and a last-segment
 * flag byte; the header is the additional data of every segment. So a segment is authenticated
 * before a byte of it is used, and a reordered, dropped, swapped-in or cut-off segment, or a changed
 * header, is refused. An artifact without the magic is an unencrypted one of an earlier version
 * and is read as it is.
 */
export const ENCRYPTED_MAGIC = Buffer.from('TTMBENC1');
const SEGMENT_BYTES = 64 * 1024;
const TAG_BYTES = 16;

interface EncryptedHeader {
  alg: 'AES-256-GCM';
  segmentBytes: number;
  noncePrefix: string;
  key: WrappedKey;
}

function nonce(prefix: Buffer, index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0, 0, 7);
  n.writeUInt32BE(index, 7);
  n[11] = last ? 1 : 0;
  return n;
}

function seal(key: Buffer, prefix: Buffer, aad: Buffer, index: number, last: boolean, plain: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce(prefix, index, last));
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([length, body, cipher.getAuthTag()]);
}

/** Encrypt an artifact's bytes as they stream (nothing is buffered beyond one segment). */
export async function* encryptArtifact(
  keys: KeyEncryptionKeys,
  plain: AsyncIterable<Uint8Array>,
): AsyncGenerator<Buffer> {
  const dataKey = randomBytes(32);
  const noncePrefix = randomBytes(7);
  const header: EncryptedHeader = {
    alg: 'AES-256-GCM',
    segmentBytes: SEGMENT_BYTES,
    noncePrefix: noncePrefix.toString('base64'),
    key: await keys.wrap(dataKey),
  };
  const aad = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(aad.length);
  yield Buffer.concat([ENCRYPTED_MAGIC, length, aad]);

  let pending = Buffer.alloc(0);
  let index = 0;
  for await (const chunk of plain) {
    pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
    // Keep at least one byte back: the last segment is only known once the input ends.
    while (pending.length > SEGMENT_BYTES) {
      yield seal(dataKey, noncePrefix, aad, index++, false, pending.subarray(0, SEGMENT_BYTES));
      pending = pending.subarray(SEGMENT_BYTES);
    }
  }
  yield seal(dataKey, noncePrefix, aad, index, true, pending);
}

/** Reads exact byte counts out of a chunk stream. */
class ByteReader {
  private parts: Buffer[] = [];
  private buffered = 0;
  private readonly iterator: AsyncIterator<Uint8Array>;
  private done = false;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.iterator = chunks[Symbol.asyncIterator]();
  }

  /** Up to `n` bytes (fewer only at the end of the stream). */
  async take(n: number): Promise<Buffer> {
    while (this.buffered < n && !this.done) {
      const next = await this.iterator.next();
      if (next.done) this.done = true;
      else {
        this.parts.push(Buffer.from(next.value));
        this.buffered += next.value.byteLength;
      }
    }
    const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    const out = all.subarray(0, n);
    const rest = all.subarray(out.length);
    this.parts = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  /** Whatever is left, chunk by chunk. */
  async *rest(): AsyncGenerator<Buffer> {
    yield* this.parts;
    this.parts = [];
    this.buffered = 0;
    while (!this.done) {
      const next = await this.iterator.next();
      if (next.done) this.done = true;
      else yield Buffer.from(next.value);
    }
  }
}

/**
 * The plain (gzipped) bytes of an artifact: decrypted and authenticated segment by segment if
 * it is encrypted, as they are if it is an unencrypted one. Throws ArtifactUnreadable if a
 * segment does not authenticate or the artifact is cut short, and if the KEK that wrapped its
 * key is not configured (KeyUnavailable, as the cause).
 */
export async function* decryptArtifact(
  keys: KeyEncryptionKeys | undefined,
  chunks: AsyncIterable<Uint8Array>,
): AsyncGenerator<Buffer> {
  const reader = new ByteReader(chunks);
  const magic = await reader.take(ENCRYPTED_MAGIC.length);
  if (!magic.equals(ENCRYPTED_MAGIC)) {
    if (magic.length > 0) yield magic;
    yield* reader.rest();
    return;
  }
  if (!keys) throw new ArtifactUnreadable('the artifact is encrypted and this service has no key-encryption key');
  const length = await reader.take(4);
  if (length.length < 4) throw new ArtifactUnreadable('the encrypted artifact is cut short (in its header)');
  const aad = await reader.take(length.readUInt32BE(0));
  let header: EncryptedHeader;
  try {
    header = JSON.parse(aad.toString('utf8')) as EncryptedHeader;
  } catch {
    throw new ArtifactUnreadable('the encrypted artifact has a damaged header');
  }
  if (header.alg !== 'AES-256-GCM') throw new ArtifactUnreadable(`unknown artifact cipher ${String(header.alg)}`);
  let dataKey: Buffer;
  try {
    dataKey = await keys.unwrap(header.key);
  } catch (error) {
    throw new ArtifactUnreadable(`the artifact's data key cannot be unwrapped: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const prefix = Buffer.from(header.noncePrefix, 'base64');
  for (let index = 0; ; index++) {
    const size = await reader.take(4);
    if (size.length === 0) throw new ArtifactUnreadable('the encrypted artifact is cut short (no last segment)');
    if (size.length < 4) throw new ArtifactUnreadable('the encrypted artifact is cut short');
    const bodyLength = size.readUInt32BE(0);
    if (bodyLength > header.segmentBytes) throw new ArtifactUnreadable(`segment ${index} is larger than a segment`);
    const sealed = await reader.take(bodyLength + TAG_BYTES);
    if (sealed.length < bodyLength + TAG_BYTES) throw new ArtifactUnreadable('the encrypted artifact is cut short');
    const body = sealed.subarray(0, bodyLength);
    const tag = sealed.subarray(bodyLength);
    const plain = openSegment(dataKey, prefix, aad, index, body, tag);
    if (plain.last) {
      if ((await reader.take(1)).length > 0)
        throw new ArtifactUnreadable('the artifact goes on after its last segment');
      if (plain.bytes.length > 0) yield plain.bytes;
      return;
    }
    yield plain.bytes;
  }
}

/** Open a segment as a middle one, else as the last one; neither authenticating is damage. */
function openSegment(
  key: Buffer,
  prefix: Buffer,
  aad: Buffer,
  index: number,
  body: Buffer,
  tag: Buffer,
): { bytes: Buffer; last: boolean } {
  for (const last of [false, true]) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, nonce(prefix, index, last));
      decipher.setAAD(aad);
      decipher.setAuthTag(tag);
      return { bytes: Buffer.concat([decipher.update(body), decipher.final()]), last };
    } catch {
      // try the other flag
    }
  }
  throw new ArtifactUnreadable(`segment ${index} of the encrypted artifact does not authenticate (damaged or altered)`);
}

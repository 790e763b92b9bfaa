import { randomBytes } from 'node:crypto';
import { LocalKeyEncryptionKeys } from '@ttm/service-kit';
import { describe, expect, it } from 'vitest';
import { decryptArtifact, ENCRYPTED_MAGIC, encryptArtifact } from './encryption.js';

const kek = () => new LocalKeyEncryptionKeys(randomBytes(32));

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of chunks) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

async function* inChunks(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

describe('artifact encryption', () => {
  it('round-trips any length, whatever the chunking on either side', async () => {
    const keys = kek();
    for (const length of [0, 1, 65_535, 65_536, 65_537, 300_000]) {
      const plain = randomBytes(length);
      const sealed = await collect(encryptArtifact(keys, inChunks(plain, 10_000)));
      expect(sealed.subarray(0, 8).equals(ENCRYPTED_MAGIC)).toBe(true);
      expect(await collect(decryptArtifact(keys, inChunks(sealed, 777)))).toEqual(plain);
    }
  });

  it('refuses a flipped bit, a cut-off end, a dropped or reordered segment, and an extra byte', async () => {
    const keys = kek();
    const sealed = await collect(encryptArtifact(keys, inChunks(randomBytes(200_000), 65_536)));
    const flipped = Buffer.from(sealed);
    flipped[sealed.length - 100]! ^= 1;
    await expect(collect(decryptArtifact(keys, inChunks(flipped, 4096)))).rejects.toThrow(/does not authenticate/);
    // Drop the last segment (its 4-byte length, body and tag): the stream ends without a last one.
    const header = 8 + 4 + sealed.readUInt32BE(8);
    const segment = 4 + 65_536 + 16;
    const withoutLast = sealed.subarray(0, header + 3 * segment);
    await expect(collect(decryptArtifact(keys, inChunks(withoutLast, 4096)))).rejects.toThrow(/cut short/);
    const swapped = Buffer.concat([
      sealed.subarray(0, header),
      sealed.subarray(header + segment, header + 2 * segment),
      sealed.subarray(header, header + segment),
      sealed.subarray(header + 2 * segment),
    ]);
    await expect(collect(decryptArtifact(keys, inChunks(swapped, 4096)))).rejects.toThrow(/does not authenticate/);
    await expect(
      collect(decryptArtifact(keys, inChunks(Buffer.concat([sealed, Buffer.from([0])]), 4096))),
    ).rejects.toThrow(/after its last segment/);
  });

  it('reads an unencrypted artifact as it is, and needs the KEK (or a previous one) for an encrypted one', async () => {
    const plain = Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]);
    expect(await collect(decryptArtifact(kek(), inChunks(plain, 2)))).toEqual(plain);
    const old = randomBytes(32);
    const sealed = await collect(encryptArtifact(new LocalKeyEncryptionKeys(old), inChunks(plain, 4)));
    await expect(collect(decryptArtifact(kek(), inChunks(sealed, 64)))).rejects.toThrow(/cannot be unwrapped/);
    const rotated = new LocalKeyEncryptionKeys(randomBytes(32), [old]);
    expect(await collect(decryptArtifact(rotated, inChunks(sealed, 64)))).toEqual(plain);
  });

  it('refuses the development KEK in production', () => {
    const dev = LocalKeyEncryptionKeys.fromConfig({ NODE_ENV: 'development', TTM_KEK: DEV, TTM_KEK_PREVIOUS: '' });
    expect(dev.currentId).toMatch(/^local:/);
    expect(() =>
      LocalKeyEncryptionKeys.fromConfig({ NODE_ENV: 'production', TTM_KEK: DEV, TTM_KEK_PREVIOUS: '' }),
    ).toThrow(/development default/);
  });
});

const DEV = Buffer.from('ttm-development-kek-not-a-secret').toString('base64');

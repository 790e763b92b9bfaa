import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * Secrets at rest are encrypted with a data key, and the data key is wrapped by a key-encryption
 * key (KEK) that never leaves its keeper: this process's environment (`LocalKeyEncryptionKeys`),
 * or a KMS implementing the same interface (wrap = KMS Encrypt, unwrap = KMS Decrypt).
 */
export interface WrappedKey {
  /** Which KEK wrapped it (the KMS key id, or the local key's fingerprint). */
  kek: string;
  /** The wrapped bytes, base64. */
  data: string;
}

export interface KeyEncryptionKeys {
  /** The KEK new data keys are wrapped with. */
  readonly currentId: string;
  wrap(dataKey: Uint8Array): Promise<WrappedKey>;
  /** Unwrap with whichever known KEK wrapped it; throws KeyUnavailable if it is not known. */
  unwrap(wrapped: WrappedKey): Promise<Buffer>;
}

/** The KEK that wrapped a secret is not configured, or the wrapped key does not authenticate. */
export class KeyUnavailable extends Error {
  override name = 'KeyUnavailable';
}

/** The development KEK (32 bytes, base64): refused when NODE_ENV=production. */
export const DEVELOPMENT_KEK = Buffer.from('ttm-development-kek-not-a-secret').toString('base64');

const kek32 = z
  .string()
  .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes in base64 (openssl rand -base64 32)');

/** The environment of the services that keep secrets at rest (gateway signing keys, backups). */
export const keyEncryptionEnv = {
  NODE_ENV: z
    .string()
    .default('development')
    .describe('`production` refuses development defaults such as the admin key and the KEK'),
  TTM_KEK: kek32
    .default(DEVELOPMENT_KEK)
    .describe(
      'Key-encryption key (32 bytes, base64) that wraps token signing keys, backup data keys and webhook signing secrets (the development default is refused when NODE_ENV=production)',
    ),
  TTM_KEK_PREVIOUS: z
    .string()
    .default('')
    .refine(
      (v) => v === '' || v.split(',').every((k) => Buffer.from(k.trim(), 'base64').length === 32),
      'must be comma-separated 32-byte base64 keys',
    )
    .describe('Earlier KEKs, comma separated: still unwrap what they wrapped after TTM_KEK changed'),
};

const fingerprint = (key: Buffer) => `local:${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;

/**
 * KEKs from the environment: the current one wraps (AES-256-GCM, random 96-bit nonce), it and
 * the previous ones unwrap.
 */
export class LocalKeyEncryptionKeys implements KeyEncryptionKeys {
  private readonly keys = new Map<string, Buffer>();
  readonly currentId: string;

  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    if (current.length !== 32) throw new Error('a KEK is 32 bytes');
    this.currentId = fingerprint(current);
    this.keys.set(this.currentId, current);
    for (const key of previous) this.keys.set(fingerprint(key), key);
  }

  /** From `TTM_KEK` / `TTM_KEK_PREVIOUS`; the development KEK is refused in production. */
  static fromConfig(config: { NODE_ENV: string; TTM_KEK: string; TTM_KEK_PREVIOUS: string }): LocalKeyEncryptionKeys {
    if (config.NODE_ENV === 'production' && config.TTM_KEK === DEVELOPMENT_KEK) {
      throw new Error('TTM_KEK is the development default: set a secret (openssl rand -base64 32) in production');
    }
    const previous = config.TTM_KEK_PREVIOUS.split(',')
      .map((k) => k.trim())
      .filter((k) => k !== '')
      .map((k) => Buffer.from(k, 'base64'));
    return new LocalKeyEncryptionKeys(Buffer.from(config.TTM_KEK, 'base64'), previous);
  }

  async wrap(dataKey: Uint8Array): Promise<WrappedKey> {
    return { kek: this.currentId, data: sealWith(this.keys.get(this.currentId)!, dataKey).toString('base64') };
  }

  async unwrap(wrapped: WrappedKey): Promise<Buffer> {
    const key = this.keys.get(wrapped.kek);
    if (!key) throw new KeyUnavailable(`the key-encryption key ${wrapped.kek} is not configured (TTM_KEK_PREVIOUS?)`);
    try {
      return openWith(key, Buffer.from(wrapped.data, 'base64'));
    } catch (error) {
      throw new KeyUnavailable(`the wrapped key does not authenticate under ${wrapped.kek}`, { cause: error });
    }
  }
}

/** AES-256-GCM: nonce(12) | ciphertext | tag(16). */
export function sealWith(key: Buffer, plain: Uint8Array, aad?: Uint8Array): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  if (aad) cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plain), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** The inverse of `sealWith`; throws if it does not authenticate. */
export function openWith(key: Buffer, sealed: Buffer, aad?: Uint8Array): Buffer {
  if (sealed.length < 28) throw new Error('sealed data is too short');
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  if (aad) decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]);
}

/** A small secret sealed under a fresh data key wrapped by the KEK: what a database column stores. */
export interface SealedSecret {
  sealed: 'ttm-envelope-v1';
  key: WrappedKey;
  data: string;
}

export function isSealedSecret(value: unknown): value is SealedSecret {
  return typeof value === 'object' && value !== null && (value as { sealed?: unknown }).sealed === 'ttm-envelope-v1';
}

/** Seal `plain` (e.g. a private JWK) with a fresh data key; `aad` binds it to its row (e.g. the kid). */
export async function sealSecret(keys: KeyEncryptionKeys, plain: Uint8Array, aad: string): Promise<SealedSecret> {
  const dataKey = randomBytes(32);
  const wrapped = await keys.wrap(dataKey);
  return {
    sealed: 'ttm-envelope-v1',
    key: wrapped,
    data: sealWith(dataKey, plain, Buffer.from(aad)).toString('base64'),
  };
}

export async function openSecret(keys: KeyEncryptionKeys, secret: SealedSecret, aad: string): Promise<Buffer> {
  const dataKey = await keys.unwrap(secret.key);
  try {
    return openWith(dataKey, Buffer.from(secret.data, 'base64'), Buffer.from(aad));
  } catch (error) {
    throw new KeyUnavailable('the sealed secret does not authenticate (altered, or moved to another row)', {
      cause: error,
    });
  }
}

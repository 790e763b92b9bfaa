import { isSealedSecret, type KeyEncryptionKeys, openSecret, type SealedSecret, sealSecret } from '@ttm/service-kit';

/**
 * Endpoint signing secrets at rest: each sealed under a fresh data key wrapped by the KEK
 * (TTM_KEK, or a KMS behind the same interface), bound to its endpoint's row, so a sealed value
 * copied to another row does not open. Current and previous secret share the binding: a rotation
 * moves the sealed value from one column to the other as it is.
 */
export class EndpointSecrets {
  constructor(private readonly keys: KeyEncryptionKeys) {}

  seal(endpointId: string, secret: string): Promise<SealedSecret> {
    return sealSecret(this.keys, Buffer.from(secret, 'utf8'), binding(endpointId));
  }

  /** The secret of a column pair: the sealed value, or a plain one not sealed yet (before the start-up pass). */
  async open(endpointId: string, sealed: unknown, plain: string | null): Promise<string | undefined> {
    if (isSealedSecret(sealed)) return (await openSecret(this.keys, sealed, binding(endpointId))).toString('utf8');
    return plain ?? undefined;
  }
}

const binding = (endpointId: string) => `webhooks.endpoints:${endpointId}`;

import type { DataOf, RegisterOrganization } from '@ttm/contracts';
import { type KeyEncryptionKeys, openSecret } from '@ttm/service-kit';

/**
 * The admin's argon2id hash from a registration command: the gateway seals it under the KEK with
 * the tenant id as additional data (so it cannot be moved into another registration); a plain
 * hash is a command published before sealing.
 */
export async function openAdminPasswordHash(
  kek: KeyEncryptionKeys,
  command: Pick<DataOf<typeof RegisterOrganization>, 'tenantId' | 'adminPasswordHash'>,
): Promise<string> {
  const hash = command.adminPasswordHash;
  if (typeof hash === 'string') return hash;
  return (await openSecret(kek, hash, command.tenantId)).toString('utf8');
}

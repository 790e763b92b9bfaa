import { z } from 'zod';

export const TenantId = z.uuid().describe('Tenant id (uuid), also the Twenty workspace id');
export const OperationId = z.uuid().describe('Long-running operation id (uuid)');
/** Twenty's subdomain rules: lowercase letters, digits and hyphens, 3 to 30 characters. */
export const Slug = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{1,28})[a-z0-9]$/, 'must be 3-30 of a-z, 0-9 and -, not starting or ending with -')
  .describe('Workspace subdomain');
export const PlanName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/)
  .describe('Plan name from configuration');
export const RegionName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,31}$/)
  .describe('Region name from configuration');
export const OrganizationName = z.string().trim().min(1).max(100).describe('Organization display name');
export const Email = z.email().max(254).describe('E-mail address');
export const Actor = z
  .object({
    kind: z.enum(['admin', 'user', 'system']),
    id: z.string().min(1).max(200),
  })
  .describe('Who asked for it');
/**
 * A small secret sealed under a fresh data key that the key-encryption key wrapped (AES-256-GCM):
 * service-kit's `sealSecret` writes it and `openSecret` reads it.
 */
export const SealedSecretField = z
  .object({
    sealed: z.literal('ttm-envelope-v1'),
    key: z.object({
      kek: z.string().min(1).max(200).describe('Which key-encryption key wrapped the data key'),
      data: z.string().min(1).max(1024).describe('The wrapped data key, base64'),
    }),
    data: z.string().min(1).max(2048).describe('nonce | ciphertext | tag, base64'),
  })
  .describe('A secret sealed under the key-encryption key (TTM_KEK)');
export const Timestamp = z.iso.datetime({ offset: true }).describe('RFC 3339 timestamp');

export const ProvisioningStep = z
  .enum(['reserve-slug', 'place', 'create-workspace', 'apply-quotas', 'activate'])
  .describe('A step of the provisioning saga, in order');
export type ProvisioningStep = z.infer<typeof ProvisioningStep>;

export const Placement = z
  .object({
    region: RegionName,
    cluster: z.string().min(1).max(64),
    kind: z.enum(['schema', 'database']),
    database: z.string().min(1).max(63),
    schema: z.string().min(1).max(63),
  })
  .describe('Where the tenant workspace lives');
/** Where a tenant's workspace lives: the one spelling of the type every service uses. */
export type Placement = z.output<typeof Placement>;

export const ArchiveReason = z
  .enum(['idle', 'operator'])
  .describe("Why the tenant was archived: no sign-in or API call for its plan's idle days, or an operator asked");

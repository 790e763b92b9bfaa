import type { Pool } from '@ttm/service-kit';

/**
 * The admin password hash of a provisioning that stopped before creating the workspace, kept
 * for a retry (the RegisterOrganization command that carried it is gone from the work queue).
 */
export async function keepPendingCredentials(pool: Pool, tenantId: string, adminPasswordHash: string): Promise<void> {
  await pool.query(
    `INSERT INTO provisioner.pending_credentials (tenant_id, admin_password_hash) VALUES ($1, $2)
     ON CONFLICT (tenant_id) DO NOTHING`,
    [tenantId, adminPasswordHash],
  );
}

export async function readPendingCredentials(pool: Pool, tenantId: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ admin_password_hash: string }>(
    'SELECT admin_password_hash FROM provisioner.pending_credentials WHERE tenant_id = $1',
    [tenantId],
  );
  return rows[0]?.admin_password_hash;
}

export async function forgetPendingCredentials(pool: Pool, tenantId: string): Promise<void> {
  await pool.query('DELETE FROM provisioner.pending_credentials WHERE tenant_id = $1', [tenantId]);
}

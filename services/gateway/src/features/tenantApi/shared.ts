import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { tenantRouteSecurity } from '../../plugins/openapi.js';
import { problemJsonSchema } from '../../problems.js';
import { principalOf } from './context.js';

export const problem = problemJsonSchema;

/** Tenant routes take the access token or an API key, both as a bearer credential (or the key as X-Api-Key). */
export const tenantSecurity = tenantRouteSecurity;

export const IdParams = z.object({ id: z.uuid() });
export type IdParams = z.output<typeof IdParams>;

/** Audit a tenant's own action (scope: the tenant), as its user or its API key. */
export function auditTenantAction(
  deps: GatewayDeps,
  request: FastifyRequest,
  action: string,
  target: { kind: string; id: string },
  detail?: string,
): Promise<void> {
  const principal = principalOf(request);
  return deps.audit.record(
    {
      actor: {
        kind: 'user',
        id: principal.via === 'api-key' ? `api-key:${principal.apiKeyId}` : principal.userId,
      },
      action,
      scope: principal.tenantId,
      target,
      outcome: 'success',
      detail: detail ?? null,
    },
    request,
  );
}

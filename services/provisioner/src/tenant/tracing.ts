import { SpanKind, trace } from '@opentelemetry/api';
import type { Placement, ProvisioningStep } from '@ttm/contracts';
import { inSpan } from '@ttm/service-kit';

const tracer = trace.getTracer('@ttm/provisioner');

/** One provisioning saga step (each attempt), inside the span of the command being processed. */
export function tracedStep<T>(step: ProvisioningStep, tenantId: string, work: () => Promise<T>): Promise<T> {
  return inSpan(
    tracer,
    `provision ${step}`,
    { kind: SpanKind.INTERNAL, attributes: { 'ttm.tenant_id': tenantId, 'ttm.provisioning.step': step } },
    work,
  );
}

/**
 * The data-plane PostgreSQL work of a step, as a client span (pg's own instrumentation patches
 * modules at load time, which an ESM process without a loader hook does not allow).
 */
export function tracedDataPlane<T>(operation: string, placement: Placement, work: () => Promise<T>): Promise<T> {
  return inSpan(
    tracer,
    `postgresql ${operation}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'db.system': 'postgresql',
        'db.namespace': placement.database,
        'db.operation.name': operation,
        'ttm.region': placement.region,
        'ttm.cluster': placement.cluster,
      },
    },
    work,
  );
}

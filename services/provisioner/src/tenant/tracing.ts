import { type Attributes, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Placement, ProvisioningStep } from '@ttm/contracts';

const tracer = trace.getTracer('@ttm/provisioner');

/** Run `work` in a span of its own, child of the active one; errors mark the span and go on. */
async function inSpan<T>(name: string, kind: SpanKind, attributes: Attributes, work: () => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await work();
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** One provisioning saga step (each attempt), inside the span of the command being processed. */
export function tracedStep<T>(step: ProvisioningStep, tenantId: string, work: () => Promise<T>): Promise<T> {
  return inSpan(
    `provision ${step}`,
    SpanKind.INTERNAL,
    { 'ttm.tenant_id': tenantId, 'ttm.provisioning.step': step },
    work,
  );
}

/**
 * The data-plane PostgreSQL work of a step, as a client span (pg's own instrumentation patches
 * modules at load time, which an ESM process without a loader hook does not allow).
 */
export function tracedDataPlane<T>(operation: string, placement: Placement, work: () => Promise<T>): Promise<T> {
  return inSpan(
    `postgresql ${operation}`,
    SpanKind.CLIENT,
    {
      'db.system': 'postgresql',
      'db.namespace': placement.database,
      'db.operation.name': operation,
      'ttm.region': placement.region,
      'ttm.cluster': placement.cluster,
    },
    work,
  );
}

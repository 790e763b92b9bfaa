import { RegisterOrganization, TenantProvisioned } from '@ttm/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type TestStack } from '../support/stack.js';
import { OtlpReceiver, type ReceivedSpan } from './otlpReceiver.js';

let receiver: OtlpReceiver;
let stack: TestStack;

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
  // The standard OTEL_* variables the services' OpenTelemetry SDK reads (what docker-compose sets,
  // pointing at the collector): OTLP over HTTP with JSON bodies, exported quickly.
  Object.assign(process.env, {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_BSP_SCHEDULE_DELAY: '50',
  });
  stack = await startStack({ provisioner: true, env: { OTEL_ENABLED: 'true' } });
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.stop();
});

describe('the trace of a registration', () => {
  it('follows it from the HTTP request through provisioning to the projection, with the tenant id', async () => {
    const response = await fetch(`${stack.url}/api/auth/register-organization`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        organization_name: 'Traced Org',
        admin_email: 'admin@traced.example',
        admin_password: 'a long traced passphrase 42',
        plan: 'pro',
      }),
    });
    expect(response.status, await response.clone().text()).toBe(202);
    const { tenant_id: tenantId } = (await response.json()) as { tenant_id: string };

    const http = await eventually(
      () =>
        receiver.spans.find(
          (s) => s.name === 'POST /api/auth/register-organization' && s.attributes['ttm.tenant_id'] === tenantId,
        ),
      30_000,
    );
    const inTrace = () => receiver.spans.filter((s) => s.traceId === http.traceId);
    // The gateway's own tenant projection applying "provisioned" is the last leg.
    await eventually(
      () =>
        inTrace().find(
          (s) => s.name === `project ${TenantProvisioned.type}` && s.attributes['ttm.projection'] === 'gateway-tenants',
        ),
      30_000,
    );
    const spans = inTrace();
    const one = (predicate: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan => {
      const found = spans.find(predicate);
      expect(found, `${what} in trace ${http.traceId}: ${spans.map((s) => s.name).join(', ')}`).toBeDefined();
      return found as ReceivedSpan;
    };
    const parentOf = (span: ReceivedSpan) => spans.find((s) => s.spanId === span.parentSpanId);

    const publish = one((s) => s.name === `publish ${RegisterOrganization.type}`, 'the command publication');
    expect(parentOf(publish)?.spanId).toBe(http.spanId);
    const processing = one((s) => s.name === `process ${RegisterOrganization.type}`, 'the provisioner processing it');
    expect(processing.parentSpanId).toBe(publish.spanId);
    for (const step of ['reserve-slug', 'place', 'create-workspace', 'apply-quotas', 'activate']) {
      const span = one((s) => s.name === `provision ${step}`, `saga step ${step}`);
      expect(span.attributes['ttm.tenant_id']).toBe(tenantId);
    }
    const database = one((s) => s.name === 'postgresql create-workspace', 'the data-plane PostgreSQL work');
    expect(database.attributes['db.system']).toBe('postgresql');
    expect(parentOf(database)?.name).toBe('provision create-workspace');
    const event = one((s) => s.name === `publish ${TenantProvisioned.type}`, 'the provisioned event');
    const projected = one(
      (s) => s.name === `project ${TenantProvisioned.type}` && s.attributes['ttm.projection'] === 'gateway-tenants',
      'the gateway projection applying it',
    );
    expect(projected.parentSpanId).toBe(event.spanId);
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServiceContext } from '@ttm/service-kit';
import { freePort } from '@ttm/service-kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUp } from '../support/http.js';
import { eventually, startStack, TEST_ADMIN_KEY, type TestStack } from '../support/stack.js';
import { codeDefinesMetric, isDefaultClientMetric, prometheusOwnMetrics, sourceText } from './codeMetrics.js';
import { baseMetric, metricNames } from './promql.js';

const root = join(import.meta.dirname, '..', '..');
const dashboardsDir = join(root, 'infra', 'grafana', 'dashboards');

interface Target {
  expr: string;
}
interface Dashboard {
  uid: string;
  title: string;
  panels: { title: string; targets?: Target[] }[];
  templating: { list: { name: string; definition?: string }[] };
}
const dashboards = readdirSync(dashboardsDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(dashboardsDir, f), 'utf8')) as Dashboard);
const queries = dashboards.flatMap((d) =>
  d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${d.title} / ${p.title}`, expr: t.expr }))),
);

/** Panels fed by prometheus-nats-exporter (docker-compose), which the test stack does not run. */
const fromNatsExporter = (expr: string) => metricNames(expr).some((m) => /^(gnatsd|jetstream)_/.test(m));

describe('Grafana dashboards', () => {
  it('are the six the operators need, each with panels; the tenant one has a tenant variable', () => {
    expect(dashboards.map((d) => d.uid).sort()).toEqual([
      'ttm-backups',
      'ttm-fleet',
      'ttm-nats',
      'ttm-postgres',
      'ttm-request-path',
      'ttm-tenant',
    ]);
    for (const d of dashboards) expect(d.panels.length, d.title).toBeGreaterThan(0);
    expect(dashboards.find((d) => d.uid === 'ttm-tenant')?.templating.list.map((v) => v.name)).toEqual(['tenant']);
  });

  it('read only metrics the code registers (or the NATS exporter exports)', () => {
    const source = sourceText(root);
    const recorded = readFileSync(join(root, 'infra', 'prometheus', 'alerts.yml'), 'utf8');
    const unknown = queries
      .filter((q) => !fromNatsExporter(q.expr))
      .flatMap((q) => metricNames(q.expr.replaceAll('$__rate_interval', '1m')))
      .filter((m) => !prometheusOwnMetrics.has(m) && !isDefaultClientMetric(m))
      .filter((m) => !(m.includes(':') && recorded.includes(`record: ${m}`)))
      .map(baseMetric)
      .filter((m) => !codeDefinesMetric(source, m));
    expect([...new Set(unknown)]).toEqual([]);
  });
});

// Debian's prometheus (2.42) scraping the test stack, with the alert and recording rules loaded.
describe('every dashboard query against a real Prometheus scraping the running stack', () => {
  let stack: TestStack;
  let prometheus: ChildProcess | undefined;
  let prometheusUrl = '';
  let dir = '';
  let tenantId = '';

  const opsTarget = (service: ServiceContext<unknown> | undefined) => {
    const address = service?.ops?.server.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('a service of the stack has no ops server');
    return `127.0.0.1:${address.port}`;
  };

  beforeAll(async () => {
    stack = await startStack({ provisioner: true, backup: true, env: { BACKUP_SCHEDULE_EVERY: '0' } });
    const gateway = stack.gateway!;
    // Traffic: a registration (provisioning), the tenant's own API, a backup and its verification.
    const tenant = await signUp(gateway, {
      name: 'Dashboards Org',
      email: 'admin@dashboards.example',
      password: 'a long dashboard passphrase 7',
      plan: 'pro',
    });
    tenantId = tenant.entry.tenantId;
    for (let i = 0; i < 3; i++) {
      const me = await fetch(`${stack.url}/api/tenant/me`, { headers: { authorization: `Bearer ${tenant.token}` } });
      expect(me.status).toBe(200);
    }
    const backup = await fetch(`${stack.url}/api/admin/tenants/${tenantId}/backups`, {
      method: 'POST',
      headers: { 'x-admin-key': TEST_ADMIN_KEY },
    });
    expect(backup.status, await backup.clone().text()).toBe(202);
    await eventually(async () => {
      const text = await (await fetch(`http://${opsTarget(stack.backup?.service)}/metrics`)).text();
      return text.includes(`backup_verification_ok{tenant="${tenantId}"`) ? true : undefined;
    }, 60_000);

    dir = mkdtempSync(join(tmpdir(), 'ttm-prometheus-'));
    const jobs = {
      'ttm-gateway': new URL(stack.url).host,
      'ttm-provisioner': opsTarget(stack.provisioner?.service),
      'ttm-backup': opsTarget(stack.backup?.service),
    };
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(join(root, 'infra', 'prometheus', 'alerts.yml'))}]`,
        'scrape_configs:',
        ...Object.entries(jobs).map(
          ([job, target]) => `  - { job_name: ${job}, static_configs: [{ targets: ["${target}"] }] }`,
        ),
      ].join('\n'),
    );
    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: 'ignore' },
    );
    await eventually(async () => ((await fetch(`${prometheusUrl}/-/ready`)).ok ? true : undefined), 60_000);
  }, 240_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    await stack?.stop();
  });

  async function query(expr: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }> {
    const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await response.json()) as { status: string; error?: string; data?: { result: unknown[] } };
  }

  it('offers the tenant that was backed up in the tenant variable', async () => {
    const values = await eventually(async () => {
      const response = await fetch(`${prometheusUrl}/api/v1/label/tenant/values?match[]=backup_last_success_timestamp`);
      const body = (await response.json()) as { data: string[] };
      return body.data.includes(tenantId) ? body.data : undefined;
    }, 30_000);
    expect(values).toContain(tenantId);
  });

  it('parses and returns series for every panel query', { timeout: 120_000 }, async () => {
    const substituted = queries
      .filter((q) => !fromNatsExporter(q.expr))
      .map((q) => ({
        ...q,
        expr: q.expr.replaceAll('$__rate_interval', '10s').replaceAll('$tenant', tenantId),
      }));
    for (const q of substituted) {
      // Rates need two scrapes and recording rules an evaluation: wait for the series, not a duration.
      const result = await eventually(async () => {
        const body = await query(q.expr);
        if (body.status !== 'success') throw new Error(`${q.where}: ${body.error}`);
        return (body.data?.result.length ?? 0) > 0 ? body : undefined;
      }, 30_000).catch((error: Error) => error);
      expect(result instanceof Error ? `${q.where}: ${q.expr}: ${result.message}` : 'ok').toBe('ok');
    }
  });
});

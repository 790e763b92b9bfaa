import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { codeDefinesMetric, isDefaultClientMetric, prometheusOwnMetrics, sourceText } from './codeMetrics.js';
import { baseMetric, metricNames } from './promql.js';

const root = join(import.meta.dirname, '..', '..');
const prometheusDir = join(root, 'infra', 'prometheus');
const testsDir = join(prometheusDir, 'tests');
const testFiles = readdirSync(testsDir)
  .filter((f) => f.endsWith('.yml'))
  .map((f) => join(testsDir, f));

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const groups = (parse(readFileSync(join(prometheusDir, 'alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] })
  .groups;
const rules = groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);
const records = rules.filter((r) => r.record !== undefined);

/** Metrics the rules read that another branch adds to the code (the rate limiter's fallback). */
const addedElsewhere = new Set(['gateway_rate_limit_fallback_active', 'gateway_rate_limit_fallback_total']);

function has(binary: string): boolean {
  return spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Run a tool; fail with its output (promtool prints what failed on stdout). */
function run(binary: string, args: string[], cwd = root): string {
  const result = spawnSync(binary, args, { cwd, encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${binary} ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

describe('alert rules', () => {
  it('promtool is installed (Debian package prometheus; .ci/run installs it)', () => {
    expect(has('promtool'), 'promtool not found: apt-get install prometheus').toBe(true);
  });

  it('pass promtool check rules and check config', () => {
    run('promtool', ['check', 'rules', join(prometheusDir, 'alerts.yml')]);
    run('promtool', ['check', 'config', join(prometheusDir, 'prometheus.yml')]);
  });

  // promtool evaluates days of samples for the SLO windows: tens of seconds on a loaded machine.
  it('pass every promtool unit test', { timeout: 300_000 }, () => {
    expect(testFiles.length).toBeGreaterThan(0);
    run(
      'promtool',
      ['test', 'rules', ...testFiles.map((f) => join('tests', f.slice(testsDir.length + 1)))],
      prometheusDir,
    );
  });

  it('each have a unit test: every alert fires in some test, every recording rule is evaluated', () => {
    const tests = testFiles.flatMap(
      (f) =>
        (
          parse(readFileSync(f, 'utf8')) as {
            tests: {
              alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
              promql_expr_test?: { expr: string }[];
            }[];
          }
        ).tests,
    );
    const fired = new Set(
      tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => (a.exp_alerts ?? []).length > 0).map((a) => a.alertname),
      ),
    );
    const quiet = new Set(
      tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => (a.exp_alerts ?? []).length === 0).map((a) => a.alertname),
      ),
    );
    const evaluated = tests.flatMap((t) => (t.promql_expr_test ?? []).map((p) => p.expr)).join('\n');
    expect(alerts.map((a) => a.alert).filter((name) => !fired.has(name ?? ''))).toEqual([]);
    expect(alerts.map((a) => a.alert).filter((name) => !quiet.has(name ?? ''))).toEqual([]);
    expect(records.map((r) => r.record).filter((name) => !evaluated.includes(name ?? ''))).toEqual([]);
  });

  it('each carry a severity, a summary, a description and a runbook section that exists', () => {
    const runbook = readFileSync(join(root, 'docs', 'runbooks', 'alerts.md'), 'utf8');
    const anchors = new Set(
      [...runbook.matchAll(/^##+ (.+)$/gm)].map((m) =>
        (m[1] ?? '')
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const alert of alerts) {
      expect(['critical', 'warning', 'info'], alert.alert).toContain(alert.labels?.severity);
      expect(alert.annotations?.summary, alert.alert).toBeTruthy();
      expect(alert.annotations?.description, alert.alert).toBeTruthy();
      const url = alert.annotations?.runbook_url ?? '';
      expect(url, alert.alert).toMatch(/^docs\/runbooks\/alerts\.md#/);
      expect(anchors, `${alert.alert}: no section ${url}`).toContain(url.split('#')[1]);
    }
  });

  it('read only metrics the code registers', () => {
    const source = sourceText(root);
    const recorded = new Set(records.map((r) => r.record));
    const unknown = rules
      .flatMap((r) => metricNames(r.expr))
      .filter((name) => !recorded.has(name) && !prometheusOwnMetrics.has(name) && !isDefaultClientMetric(name))
      .map(baseMetric)
      .filter((name) => !addedElsewhere.has(name) && !codeDefinesMetric(source, name));
    expect([...new Set(unknown)]).toEqual([]);
  });
});

describe('Alertmanager configuration', () => {
  it.skipIf(!has('amtool'))('passes amtool check-config and routes every severity to the gateway webhook', () => {
    const config = join(root, 'infra', 'alertmanager', 'alertmanager.yml');
    run('amtool', ['check-config', config]);
    for (const severity of ['critical', 'warning', 'info']) {
      const receiver = execFileSync(
        'amtool',
        ['config', 'routes', 'test', `--config.file=${config}`, `severity=${severity}`],
        {
          encoding: 'utf8',
        },
      );
      expect(receiver.trim()).toBe('ttm-gateway');
    }
    const parsed = parse(readFileSync(config, 'utf8')) as {
      receivers: { name: string; webhook_configs?: { url: string }[] }[];
    };
    expect(parsed.receivers.flatMap((r) => r.webhook_configs ?? []).map((w) => new URL(w.url).pathname)).toEqual([
      '/api/admin/alertmanager/webhook',
    ]);
  });
});

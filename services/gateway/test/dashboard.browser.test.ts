import AxeBuilder from '@axe-core/playwright';
import { freePort } from '@ttm/service-kit/testing';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDashboardBuilt, openBrowser, type TestBrowser } from '../../../test/support/browser.js';
import { adminFetch } from '../../../test/support/http.js';
import { eventually, startStack, TEST_ADMIN_KEY, type TestStack } from '../../../test/support/stack.js';

let stack: TestStack;
let browser: TestBrowser;
let page: Page;
const admin = adminFetch(() => stack.url);

beforeAll(async () => {
  await ensureDashboardBuilt();
  // A fixed port: the page must find the gateway again after it restarts.
  stack = await startStack({
    backup: true,
    env: {
      PORT: String(await freePort()),
      LOGIN_MAX_FAILURES: '5',
      BACKUP_SCHEDULE_EVERY: '0',
      MIGRATION_SOURCE_GRACE: '1500ms',
      MIGRATION_SWEEP_EVERY: '200ms',
    },
  });
  browser = await openBrowser();
  page = browser.page;
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

let registered = 0;
/** Registers an organization over REST; returns its tenant id and the time the gateway accepted it. */
async function register(name: string): Promise<{ tenantId: string; acceptedAt: number }> {
  registered++;
  const response = await fetch(`${stack.url}/api/auth/register-organization`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      organization_name: name,
      admin_email: `owner${registered}-${Date.now()}@dashboard.test`,
      admin_password: 'Correct-Horse-Battery-9',
      plan: 'pro',
    }),
  });
  const acceptedAt = Date.now();
  expect(response.status, await response.clone().text()).toBe(202);
  const { tenant_id } = (await response.json()) as { tenant_id: string };
  return { tenantId: tenant_id, acceptedAt };
}

async function activeTenant(tenantId: string): Promise<void> {
  await eventually(async () => {
    const response = await admin(`/api/admin/tenants/${tenantId}`);
    return response.status === 200 && ((await response.json()) as { status: string }).status === 'active'
      ? true
      : undefined;
  }, 30_000);
}

async function axe(): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const violations = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`);
  expect(violations).toEqual([]);
}

describe('the operator dashboard in chromium', { timeout: 120_000 }, () => {
  it('refuses a wrong key with a clear message, then signs the operator in with the key', async () => {
    await page.goto(`${stack.url}/dashboard`);
    await page.getByLabel('Operator key').fill('not-the-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That is not the operator key').waitFor();
    await axe();
    await browser.screenshot('01-sign-in-wrong-key');

    await page.getByLabel('Operator key').fill(TEST_ADMIN_KEY);
    await page.keyboard.press('Enter');
    await page.locator('#connection[data-state="live"]').waitFor();
    await page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    // The key is in an HttpOnly cookie, nowhere a script or a URL could read it.
    const cookies = await browser.context.cookies();
    const session = cookies.find((cookie) => cookie.name === 'ttm_session');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(await page.evaluate('document.cookie')).toBe('');
    expect(await page.evaluate('JSON.stringify(localStorage) + JSON.stringify(sessionStorage)')).not.toContain(
      TEST_ADMIN_KEY,
    );
    expect(page.url()).not.toContain(TEST_ADMIN_KEY);
  });

  it('shows a tenant registered over REST on the overview and in the list within 2 s, without a reload', async () => {
    await page.evaluate("window.marker = 'same page'");
    const before = Number((await page.locator('#stat-total').textContent())?.replace(/,/g, '') ?? '0');
    const { tenantId, acceptedAt } = await register('Overview Arrival Ltd');
    await expect.poll(() => page.locator('#stat-total').textContent(), { timeout: 2_000 }).toBe(String(before + 1));
    expect(Date.now() - acceptedAt).toBeLessThan(2_000);
    await browser.screenshot('02-overview');

    await page.getByRole('link', { name: 'Tenants', exact: true }).click();
    await page.locator('#tenant-list [data-tenant]').first().waitFor();
    const second = await register('List Arrival GmbH');
    await page.locator(`#tenant-list [data-tenant="${second.tenantId}"]`).waitFor({ timeout: 2_000 });
    expect(Date.now() - second.acceptedAt).toBeLessThan(2_000);
    await expect.poll(() => page.locator(`[data-tenant="${tenantId}"]`).count()).toBe(1);
    expect(await page.evaluate('window.marker')).toBe('same page');
    await page.getByLabel('Search tenants').fill('GmbH');
    await expect.poll(() => page.locator('#tenant-list [data-tenant]').count()).toBe(1);
    await axe();
    await browser.screenshot('03-tenant-list');
    await activeTenant(second.tenantId);
  });

  it('suspends from the tenant page with the keyboard alone and shows the status change live', async () => {
    const row = page.locator('#tenant-list [data-tenant] a').first();
    await row.focus();
    await page.keyboard.press('Enter');
    await page.locator('#tenant-title', { hasText: 'List Arrival GmbH' }).waitFor();
    await page.locator('#tenant-status [data-status="active"]').waitFor();
    await axe();

    // Every action is reachable with Tab from the top of the page.
    const wanted = [
      'suspend-reason',
      'suspend',
      'backup',
      'restore-backup',
      'restore',
      'migrate-region',
      'migrate',
      'quota-name',
      'quota-limit',
      'quota-override',
    ];
    await page.locator('body').focus();
    const reached = new Set<string>();
    for (let presses = 0; presses < 60 && !wanted.every((id) => reached.has(id)); presses++) {
      await page.keyboard.press('Tab');
      reached.add(String(await page.evaluate("document.activeElement?.id ?? ''")));
    }
    expect(wanted.filter((id) => !reached.has(id))).toEqual([]);

    await page.locator('#suspend-reason').focus();
    await page.keyboard.type('billing dispute');
    await page.keyboard.press('Enter');
    await page.locator('#tenant-status [data-status="suspended"]').waitFor();
    // Activate becomes available, and is reachable from the reason field with Tab.
    await page.locator('#suspend-reason').focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.id')).toBe('activate');
    await browser.screenshot('04-tenant-suspended');
    await page.keyboard.press('Enter');
    await page.locator('#tenant-status [data-status="active"]').waitFor();
  });

  it("moves a migration's progress on screen until it succeeds", async () => {
    const tenantId = page.url().split('/').pop()!;
    const seen = new Set<string>();
    const progress = page.locator('#tenant-operations [data-kind="migration"][data-progress]');
    await page.locator('#migrate-region').selectOption('eu-west-1');
    await page.locator('#migrate').click();
    await progress.waitFor();
    for (;;) {
      const value = await progress.getAttribute('data-progress');
      if (value) seen.add(value);
      if (value === '100') break;
      await expect.poll(() => progress.getAttribute('data-progress'), { timeout: 30_000 }).not.toBe(value);
    }
    expect(seen.size).toBeGreaterThan(1);
    await page
      .locator('#tenant-operations tr', { has: page.locator('[data-kind="migration"]') })
      .locator('[data-status="succeeded"]')
      .waitFor();
    await browser.screenshot('05-tenant-migrated');
    const detail = (await (await admin(`/api/admin/tenants/${tenantId}`)).json()) as { region: string };
    expect(detail.region).toBe('eu-west-1');
  });

  it('survives a gateway restart: reconnects, resumes and keeps showing changes without a reload', async () => {
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.locator('#connection[data-state="live"]').waitFor();
    const connections = await page.evaluate('window.marker');
    expect(connections).toBe('same page');
    await stack.gateway!.stop();
    await page.locator('#connection[data-state="reconnecting"]').waitFor();
    await browser.screenshot('06-reconnecting');
    await stack.startGateway();
    await page.locator('#connection[data-state="live"]').waitFor({ timeout: 20_000 });
    const before = Number((await page.locator('#stat-total').textContent())?.replace(/,/g, '') ?? '0');
    await register('After Restart Inc');
    await expect.poll(() => page.locator('#stat-total').textContent(), { timeout: 5_000 }).toBe(String(before + 1));
    expect(await page.evaluate('window.marker')).toBe('same page');
    await axe();
    await browser.screenshot('07-after-restart');
  });
});

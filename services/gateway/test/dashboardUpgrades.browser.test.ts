import AxeBuilder from '@axe-core/playwright';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { UpgradeView } from '@ttm/contracts';
import { changeWorkspaceVersion, schemaVersionOf, WORKSPACE_SCHEMA_VERSION } from '@ttm/data-plane';
import pg from 'pg';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDashboardBuilt, openBrowser, type TestBrowser } from '../../../test/support/browser.js';
import { adminFetch, json } from '../../../test/support/http.js';
import { startStack, stopConnectedStack, TEST_ADMIN_KEY, type TestStack } from '../../../test/support/stack.js';
import { registerTenant, type TestTenant } from '../../../test/support/tenants.js';

const N = WORKSPACE_SCHEMA_VERSION;
const FLEET = 4;

let stack: TestStack;
let nc: NatsConnection;
let plane: pg.Pool;
let tenants: TestTenant[];
let browser: TestBrowser;
let page: Page;
const admin = adminFetch(() => stack.url);

beforeAll(async () => {
  await ensureDashboardBuilt();
  stack = await startStack({ env: { WORKSPACE_WARM_POOL: '0' } });
  nc = await connect({ servers: stack.nats.url });
  tenants = await Promise.all(Array.from({ length: FLEET }, () => registerTenant(stack, nc)));
  plane = new pg.Pool({ connectionString: stack.clusterUrls['us-east-1'], max: 2 });
  // A fleet one version behind, for the upgrade to move.
  for (const t of tenants) await changeWorkspaceVersion(plane, { workspaceId: t.tenantId, to: N - 1 });
  browser = await openBrowser();
  page = browser.page;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await plane?.end();
  await stopConnectedStack({ stack, nc });
});

async function axe(): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const violations = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`);
  expect(violations).toEqual([]);
}

const versions = () => Promise.all(tenants.map((t) => schemaVersionOf(plane, t.tenantId)));
const status = (value: string) => page.locator(`#upgrade-status [data-status="${value}"]`);

/** Click an action, check the confirmation dialog (and axe with it open), and confirm. */
async function confirmAction(button: string, confirmLabel: string): Promise<void> {
  await page.locator(button).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await axe();
  await dialog.getByRole('button', { name: confirmLabel, exact: true }).click();
  await dialog.waitFor({ state: 'detached' });
}

let upgradeId: string;

describe('fleet upgrades in the dashboard, in chromium', { timeout: 180_000 }, () => {
  it('starts an upgrade from the page (after a confirmation) and moves its counts live, without a reload', async () => {
    await page.goto(`${stack.url}/dashboard`);
    await page.getByLabel('Operator key').fill(TEST_ADMIN_KEY);
    await page.keyboard.press('Enter');
    await page.locator('#connection[data-state="live"]').waitFor();
    await page.getByRole('link', { name: 'Upgrades', exact: true }).click();
    await page.getByRole('heading', { name: 'Fleet upgrades' }).waitFor();
    await page.getByText('No fleet upgrade yet').waitFor();
    await axe();
    await page.evaluate("window.marker = 'same page'");

    // A canary wave of one tenant, then a soak long enough for the test to pause it.
    await page.locator('#start-version').fill(String(N));
    await page.locator('#start-waves').fill('50, 20');
    await page.locator('#start-upgrade').click();
    await page.getByText('percentages grow, up to 100').waitFor();
    await page.locator('#start-waves').fill('25:3600, 100');
    await page.locator('#start-concurrency').selectOption('2');
    await confirmAction('#start-upgrade', 'Start upgrade');
    const started = page.locator('#started-link');
    await started.waitFor();
    upgradeId = (await started.getAttribute('href'))!.split('/').pop()!;
    const view = await json<UpgradeView>(await admin(`/api/admin/upgrades/${upgradeId}?tenants=none`));
    expect(view.spec).toMatchObject({
      targetVersion: N,
      waves: [
        { percent: 25, soakSeconds: 3_600 },
        { percent: 100, soakSeconds: 0 },
      ],
      concurrencyPerCluster: 2,
      filters: {},
    });

    const row = page.locator('#upgrade-list tr', { has: page.locator(`[data-upgrade="${upgradeId}"]`) });
    await row.waitFor({ timeout: 10_000 });
    await expect.poll(() => row.locator('[data-count="ok"]').textContent(), { timeout: 60_000 }).toBe('1');
    expect(await row.locator('[data-count="pending"]').textContent()).toBe(String(FLEET - 1));
    expect(await row.locator('[data-status]').getAttribute('data-status')).toBe('running');
    expect(await page.evaluate('window.marker')).toBe('same page');
    await axe();
    await browser.screenshot('upgrades-01-list');
  });

  it('shows the upgrade with its tenants, pauses and resumes it from the page, and sees it finish live', async () => {
    await page.locator(`[data-upgrade="${upgradeId}"]`).click();
    await status('running').waitFor();
    const rows = page.locator('#upgrade-tenants [data-tenant]');
    await expect.poll(() => rows.count()).toBe(FLEET);
    expect(await page.locator('#upgrade-tenants [data-tenant][data-status="ok"]').count()).toBe(1);
    expect(await page.locator('#upgrade-tenants [data-tenant][data-status="pending"]').count()).toBe(FLEET - 1);
    expect(await page.locator('#upgrade-resume').isDisabled()).toBe(true);
    await axe();
    await browser.screenshot('upgrades-02-soaking');

    await confirmAction('#upgrade-pause', 'Pause');
    await status('paused').waitFor();
    expect((await json<UpgradeView>(await admin(`/api/admin/upgrades/${upgradeId}`))).status).toBe('paused');
    // Cancel asks first; Escape answers no and nothing changes.
    await page.locator('#upgrade-cancel').click();
    await page.getByRole('dialog').waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    expect(await status('paused').count()).toBe(1);
    expect(await page.locator('#upgrade-resume').isDisabled()).toBe(false);
    await browser.screenshot('upgrades-03-paused');

    await confirmAction('#upgrade-resume', 'Resume');
    await status('completed').waitFor({ timeout: 90_000 });
    await expect.poll(() => page.locator('#upgrade-count-ok').textContent(), { timeout: 10_000 }).toBe(String(FLEET));
    await expect
      .poll(() => page.locator('#upgrade-tenants [data-tenant][data-status="ok"]').count(), { timeout: 10_000 })
      .toBe(FLEET);
    expect(await page.evaluate('window.marker')).toBe('same page');
    expect(await versions()).toEqual(tenants.map(() => N));
    await axe();
    await browser.screenshot('upgrades-04-completed');
  });

  it('rolls the upgrade back from the page and follows the rollback', async () => {
    await confirmAction('#upgrade-rollback', 'Roll back');
    await page.locator('#rollback-link').click();
    await page.locator('#upgrade-title', { hasText: `Rollback to version ${N - 1}` }).waitFor();
    // The rollback keeps the waves: its canary, then the hour of soak, which a pause and a resume end.
    await expect.poll(() => page.locator('#upgrade-count-ok').textContent(), { timeout: 60_000 }).toBe('1');
    await confirmAction('#upgrade-pause', 'Pause');
    await status('paused').waitFor();
    await confirmAction('#upgrade-resume', 'Resume');
    await status('completed').waitFor({ timeout: 90_000 });
    await expect.poll(versions, { timeout: 10_000 }).toEqual(tenants.map(() => N - 1));
    await page.getByRole('link', { name: '← All upgrades' }).click();
    await expect.poll(() => page.locator('#upgrade-list [data-upgrade]').count()).toBe(2);
    await browser.screenshot('upgrades-05-rolled-back');
  });
});

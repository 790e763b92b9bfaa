import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`; .ci/run installs it). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** Screenshots the browser tests keep (git-ignored). */
export const ARTIFACTS = join(repoRoot, 'test-artifacts', 'dashboard');
const dashboardDir = join(repoRoot, 'services', 'gateway', 'dashboard');

/** The dashboard's assets, built once if this checkout has none yet (`npm ci` builds them through `prepare`). */
export async function ensureDashboardBuilt(): Promise<void> {
  if (existsSync(join(dashboardDir, 'dist', 'index.html'))) return;
  const { build } = await import('vite');
  await build({ configFile: join(dashboardDir, 'vite.config.ts'), logLevel: 'warn' });
}

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/** Headless chromium with a fresh profile, one page. */
export async function openBrowser(): Promise<TestBrowser> {
  const profile = await mkdtemp(join(tmpdir(), 'ttm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1366, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await mkdir(ARTIFACTS, { recursive: true });
  return {
    context,
    page,
    async screenshot(name) {
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

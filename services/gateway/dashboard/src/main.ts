import './style.css';
import { ApiError, api, whenSignedOut } from './api.js';
import { h, replace } from './dom.js';
import { LiveClient } from './live.js';
import { mountOverview } from './overview.js';
import { mountTenant } from './tenant.js';
import { mountTenants } from './tenants.js';
import { mountUpgrade } from './upgrade.js';
import { mountUpgrades } from './upgrades.js';

const root = document.getElementById('app')!;
const BASE = '/dashboard';
let live: LiveClient | undefined;
let unmount: () => void = () => undefined;

async function signedIn(): Promise<boolean> {
  const { signed_in } = await api<{ signed_in: boolean }>('/api/dashboard/session');
  return signed_in;
}

export function navigate(path: string): void {
  history.pushState(null, '', path);
  route();
}

/** Links inside the app change the view without reloading the page (and the live socket). */
document.addEventListener('click', (event) => {
  const link = (event.target as Element | null)?.closest('a[data-nav]');
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  navigate(link.getAttribute('href')!);
});
window.addEventListener('popstate', () => route());

function showSignIn(message?: string): void {
  unmount();
  live?.stop();
  live = undefined;
  const error = h('p', { class: 'form-error', id: 'sign-in-error', role: 'alert' }, message ?? '');
  const key = h('input', {
    id: 'operator-key',
    name: 'key',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    'aria-describedby': 'sign-in-error',
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Operator sign-in'),
    h('p', { class: 'muted' }, 'Twenty Tenant Manager · fleet dashboard'),
    h('label', { for: 'operator-key' }, 'Operator key'),
    key,
    error,
    submit,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = '';
    api('/api/dashboard/session', { method: 'POST', body: { key: key.value } })
      .then(() => {
        key.value = '';
        start();
      })
      .catch((failure: unknown) => {
        submit.disabled = false;
        if (failure instanceof ApiError && failure.status === 429) {
          error.textContent = `Too many wrong keys from this address. Try again in ${failure.retryAfter ?? 'a few'} seconds.`;
        } else if (failure instanceof ApiError && failure.status === 401) {
          error.textContent = 'That is not the operator key. Check SUPER_ADMIN_KEY and try again.';
        } else {
          error.textContent = `Sign-in failed: ${failure instanceof Error ? failure.message : String(failure)}`;
        }
        key.focus();
      });
  });
  replace(root, h('main', { class: 'sign-in-page' }, form));
  key.focus();
}

const connectionLabel = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' } as const;

function start(): void {
  if (!live) {
    live = new LiveClient(async () => {
      const ok = await signedIn().catch(() => true);
      if (!ok) showSignIn('Your session ended. Sign in again.');
      return ok;
    });
    live.start();
  }
  const client = live;
  const status = h('span', { class: 'connection', id: 'connection', role: 'status', 'aria-live': 'polite' });
  client.subscribe((state) => {
    status.textContent = connectionLabel[state.connection];
    status.dataset.state = state.connection;
  });
  const signOut = h('button', { type: 'button', class: 'ghost', id: 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', () => {
    void api('/api/dashboard/session', { method: 'DELETE' }).finally(() => showSignIn());
  });
  const nav = h(
    'nav',
    { 'aria-label': 'Main' },
    h('a', { href: `${BASE}`, 'data-nav': '', id: 'nav-overview' }, 'Overview'),
    h('a', { href: `${BASE}/tenants`, 'data-nav': '', id: 'nav-tenants' }, 'Tenants'),
    h('a', { href: `${BASE}/upgrades`, 'data-nav': '', id: 'nav-upgrades' }, 'Upgrades'),
  );
  const main = h('main', { id: 'main', tabindex: -1 });
  replace(
    root,
    h('a', { href: '#main', class: 'skip-link' }, 'Skip to content'),
    h(
      'header',
      { class: 'topbar' },
      h('span', { class: 'brand' }, 'Tenant Manager'),
      nav,
      h('span', { class: 'spacer' }),
      status,
      signOut,
    ),
    main,
  );
  shell = { main, nav, client };
  route();
}

let shell: { main: HTMLElement; nav: HTMLElement; client: LiveClient } | undefined;

function route(): void {
  if (!shell || !live) return;
  unmount();
  const path = location.pathname.replace(/\/+$/, '');
  const tenantMatch = /^\/dashboard\/tenants\/([^/]+)$/.exec(path);
  const upgradeMatch = /^\/dashboard\/upgrades\/([^/]+)$/.exec(path);
  for (const link of shell.nav.querySelectorAll('a')) link.removeAttribute('aria-current');
  const current = (id: string) => shell?.nav.querySelector(`#${id}`)?.setAttribute('aria-current', 'page');
  if (tenantMatch) {
    current('nav-tenants');
    unmount = mountTenant(shell.main, shell.client, decodeURIComponent(tenantMatch[1]!));
  } else if (upgradeMatch) {
    current('nav-upgrades');
    unmount = mountUpgrade(shell.main, shell.client, decodeURIComponent(upgradeMatch[1]!));
  } else if (path === '/dashboard/upgrades') {
    current('nav-upgrades');
    unmount = mountUpgrades(shell.main, shell.client);
  } else if (path === '/dashboard/tenants') {
    current('nav-tenants');
    unmount = mountTenants(shell.main, shell.client);
  } else {
    current('nav-overview');
    unmount = mountOverview(shell.main, shell.client);
  }
}

whenSignedOut(() => showSignIn('Your session ended. Sign in again.'));
signedIn()
  .then((ok) => (ok ? start() : showSignIn()))
  .catch(() => showSignIn('The gateway does not answer; retry in a moment.'));

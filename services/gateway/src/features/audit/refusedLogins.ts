import type { Logger } from '@ttm/service-kit';
import type { FastifyRequest } from 'fastify';
import type { AuditEntry } from './recorder.js';

/** One refused login: who it was for, from where, and why. */
export interface RefusedLogin {
  email: string;
  /** The organization, when the login named or reached exactly one. */
  tenantId: string | undefined;
  address: string;
  reason: string;
}

interface Summary {
  /** Refusals counted but not written, since one for this account or address already was. */
  more: number;
  email?: string;
  tenantId?: string | undefined;
}

interface Window {
  startedAt: number;
  accounts: Map<string, Summary>;
  addresses: Map<string, Summary>;
  written: number;
  /** Refusals counted after `maxEntriesPerWindow` entries were written in this window. */
  overflow: number;
}

export interface RefusedLoginAuditOptions {
  /** `LOGIN_AUDIT_WINDOW`. */
  windowMs: number;
  /** `LOGIN_AUDIT_MAX_ENTRIES`: entries written per window before everything else is only counted. */
  maxEntriesPerWindow: number;
  logger: Logger;
  /** Writes one entry; must not throw (the recorder's best-effort path). */
  write: (entry: AuditEntry, request?: FastifyRequest) => Promise<void>;
  /** Counts refusals folded into a summary instead of written one by one. */
  onFolded?: () => void;
}

/**
 * Refused logins in AUDIT without letting a flood grow it: within each window, the first refusal
 * for an account (organization + email) or from an address is written as it happens; later ones
 * for the same account or address are counted, and each account or address that had more gets
 * one `login-failed-summary` entry with the count when the window ends. At most
 * `maxEntriesPerWindow` entries are written one by one per window; beyond, refusals are counted
 * into one system summary. Memory is bounded by the same number. Per gateway instance.
 */
export class RefusedLoginAudit {
  private window: Window = this.freshWindow();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RefusedLoginAuditOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.options.windowMs);
    this.timer.unref();
  }

  /** Stop the timer and write what the current window counted. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.flush();
  }

  async refused(login: RefusedLogin, request: FastifyRequest): Promise<void> {
    const w = this.window;
    const accountKey = `${login.tenantId ?? '*'}\n${login.email}`;
    const account = w.accounts.get(accountKey);
    const address = w.addresses.get(login.address);
    if (address) {
      address.more++;
    } else if (account) {
      account.more++;
    } else if (w.written >= this.options.maxEntriesPerWindow) {
      w.overflow++;
    } else {
      w.written++;
      w.accounts.set(accountKey, { more: 0, email: login.email, tenantId: login.tenantId });
      w.addresses.set(login.address, { more: 0 });
      await this.options.write(
        {
          actor: { kind: 'user', id: login.email.slice(0, 200) },
          action: 'login-failed',
          scope: login.tenantId ?? 'system',
          ...(login.tenantId === undefined ? {} : { target: { kind: 'tenant', id: login.tenantId } }),
          outcome: 'failure',
          detail: login.reason,
        },
        request,
      );
      return;
    }
    this.options.onFolded?.();
  }

  /** Close the window: one summary per account and address that had refusals beyond the first. */
  async flush(): Promise<void> {
    const closed = this.window;
    this.window = this.freshWindow();
    const seconds = Math.round((Date.now() - closed.startedAt) / 1_000);
    const entries: AuditEntry[] = [];
    for (const summary of closed.accounts.values()) {
      if (summary.more === 0) continue;
      entries.push({
        actor: { kind: 'user', id: (summary.email ?? 'unknown').slice(0, 200) },
        action: 'login-failed-summary',
        scope: summary.tenantId ?? 'system',
        ...(summary.tenantId === undefined ? {} : { target: { kind: 'tenant', id: summary.tenantId } }),
        outcome: 'failure',
        detail: `${summary.more} more refused logins for this account in the last ${seconds} s`,
      });
    }
    for (const [address, summary] of closed.addresses) {
      if (summary.more === 0) continue;
      entries.push({
        actor: { kind: 'system', id: 'gateway' },
        action: 'login-failed-summary',
        scope: 'system',
        target: { kind: 'address', id: address.slice(0, 200) },
        outcome: 'failure',
        detail: `${summary.more} more refused logins from ${address} in the last ${seconds} s`,
      });
    }
    if (closed.overflow > 0) {
      entries.push({
        actor: { kind: 'system', id: 'gateway' },
        action: 'login-failed-summary',
        scope: 'system',
        outcome: 'failure',
        detail: `${closed.overflow} more refused logins from other accounts and addresses in the last ${seconds} s (over LOGIN_AUDIT_MAX_ENTRIES)`,
      });
    }
    for (const entry of entries) await this.options.write(entry);
  }

  private freshWindow(): Window {
    return { startedAt: Date.now(), accounts: new Map(), addresses: new Map(), written: 0, overflow: 0 };
  }
}

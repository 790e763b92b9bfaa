import { EventEmitter } from 'node:events';
import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { type Placement, Streams, SubjectFilters, TenantEvents, tenantEvents } from '@ttm/contracts';
import { decodeReceived, knownMessage, type Logger, type Pool, type ReceivedEvent } from '@ttm/service-kit';
import { GATEWAY_SCHEMA } from './projection.js';

export type TenantStatus = 'pending' | 'provisioning' | 'active' | 'failed' | 'suspended' | 'archived';

export interface DirectoryEntry {
  tenantId: string;
  provisioningId: string;
  organizationName: string;
  adminEmail: string;
  plan: string;
  region: string;
  slug: string | null;
  status: TenantStatus;
  progress: number;
  step: string | null;
  placement: Placement | null;
  error: string | null;
  /** While archived: the verified backup its restore (its next sign-in, or an operator) reloads. */
  archiveBackupId: string | null;
  /** Stream sequence of the last event applied to this entry. */
  seq: number;
}

/**
 * "Who is tenant X, what plan, what status, where", answered from memory on every
 * tenant request. A cold gateway loads the projection (rows and checkpoint read in one
 * snapshot), then follows EVENTS from the checkpoint with its own ordered consumer, so
 * every gateway instance sees a suspension within milliseconds.
 */
export class TenantDirectory extends EventEmitter<{ change: [DirectoryEntry, ReceivedEvent] }> {
  private readonly byId = new Map<string, DirectoryEntry>();
  private readonly slugs = new Map<string, string>();
  private readonly byProvisioning = new Map<string, string>();
  /** Lower-cased admin e-mail -> tenant ids, in registration order. */
  private readonly byEmail = new Map<string, string[]>();
  private hitCount = 0;
  private missCount = 0;
  private lastSeq = 0;

  get size(): number {
    return this.byId.size;
  }

  get position(): number {
    return this.lastSeq;
  }

  get hitRate(): number {
    const total = this.hitCount + this.missCount;
    return total === 0 ? 1 : this.hitCount / total;
  }

  /** Every entry, for aggregates (the dashboard's fleet counts); do not mutate them. */
  entries(): IterableIterator<DirectoryEntry> {
    return this.byId.values();
  }

  get(tenantId: string): DirectoryEntry | undefined {
    const entry = this.byId.get(tenantId);
    if (entry) this.hitCount++;
    else this.missCount++;
    return entry;
  }

  bySlug(slug: string): DirectoryEntry | undefined {
    const id = this.slugs.get(slug);
    return id === undefined ? undefined : this.get(id);
  }

  /** The tenants an e-mail administers (any case), in registration order. */
  byAdminEmail(email: string): DirectoryEntry[] {
    return (this.byEmail.get(email.toLowerCase()) ?? []).map((id) => this.byId.get(id)!);
  }

  byProvisioningId(provisioningId: string): DirectoryEntry | undefined {
    const id = this.byProvisioning.get(provisioningId);
    return id === undefined ? undefined : this.byId.get(id);
  }

  /** Fill from the gateway projection; returns the stream sequence the rows reflect. */
  async load(pool: Pool): Promise<number> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const checkpoint = await client.query<{ last_seq: string }>(
        `SELECT last_seq FROM ${GATEWAY_SCHEMA}.projection_checkpoints WHERE projection = 'gateway-tenants'`,
      );
      const rows = await client.query(
        `SELECT tenant_id, provisioning_id, organization_name, admin_email, plan, region, slug, status, progress,
                step, placement, error, archive_backup_id, last_event_seq FROM ${GATEWAY_SCHEMA}.tenants
          ORDER BY registered_at, tenant_id`,
      );
      await client.query('COMMIT');
      for (const r of rows.rows) {
        this.put({
          tenantId: r.tenant_id,
          provisioningId: r.provisioning_id,
          organizationName: r.organization_name,
          adminEmail: r.admin_email,
          plan: r.plan,
          region: r.region,
          slug: r.slug,
          status: r.status,
          progress: r.progress,
          step: r.step,
          placement: r.placement,
          error: r.error,
          archiveBackupId: r.archive_backup_id,
          seq: Number(r.last_event_seq),
        });
      }
      this.lastSeq = Number(checkpoint.rows[0]?.last_seq ?? 0);
      return this.lastSeq;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Follow tenant events after the loaded position until `signal` aborts. The ordered
   * consumer is ephemeral and recreates itself after a NATS reconnect.
   */
  async follow(js: JetStreamClient, logger: Logger, signal: AbortSignal): Promise<void> {
    const start = this.lastSeq + 1;
    const consumer = await js.consumers.get(Streams.EVENTS, {
      filter_subjects: SubjectFilters.tenantEvents,
      ...(start > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start } : {}),
    });
    const messages = await consumer.consume();
    const stop = () => void messages.close();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const msg of messages) {
        try {
          this.apply(decodeReceived(msg, { kind: 'event' }));
        } catch (error) {
          logger.warn({ seq: msg.seq, err: error }, 'tenant directory skipped an event it cannot read');
        }
      }
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  /** Apply one tenant event; events at or below an entry's position are ignored. */
  apply(event: ReceivedEvent): void {
    if (event.seq <= this.lastSeq) return;
    this.lastSeq = event.seq;
    const updated = this.evolve(event);
    if (updated) this.emit('change', updated, event);
  }

  private evolve(event: ReceivedEvent): DirectoryEntry | undefined {
    const known = knownMessage(event, tenantEvents);
    if (known?.type === TenantEvents.registered.type) {
      const e = known.data;
      if (this.byId.has(e.tenantId)) return undefined;
      const entry: DirectoryEntry = {
        tenantId: e.tenantId,
        provisioningId: e.provisioningId,
        organizationName: e.organizationName,
        adminEmail: e.adminEmail,
        plan: e.plan,
        region: e.region,
        slug: null,
        status: 'pending',
        progress: 0,
        step: null,
        placement: null,
        error: null,
        archiveBackupId: null,
        seq: event.seq,
      };
      this.put(entry);
      return entry;
    }
    const tenantId = (event.data as { tenantId?: string }).tenantId;
    const entry = tenantId === undefined ? undefined : this.byId.get(tenantId);
    if (!entry || event.seq <= entry.seq) return undefined;
    entry.seq = event.seq;
    switch (known?.type) {
      case TenantEvents.provisioningStepCompleted.type: {
        const e = known.data;
        if (entry.status === 'pending') entry.status = 'provisioning';
        entry.progress = Math.max(entry.progress, e.progress);
        entry.step = e.step;
        if (e.slug) this.setSlug(entry, e.slug);
        if (e.placement) entry.placement = e.placement;
        break;
      }
      case TenantEvents.provisioned.type: {
        const e = known.data;
        entry.status = 'active';
        entry.progress = 100;
        entry.step = 'activate';
        entry.placement = e.placement;
        this.setSlug(entry, e.slug);
        break;
      }
      case TenantEvents.provisioningFailed.type: {
        const e = known.data;
        entry.status = 'failed';
        entry.step = e.step;
        // A compensated saga released the slug; a resumable stop kept everything.
        if (entry.slug && !e.resumable) this.slugs.delete(entry.slug);
        entry.error = e.reason;
        break;
      }
      case TenantEvents.provisioningRetried.type: {
        const e = known.data;
        entry.status = 'provisioning';
        entry.step = e.resumeAt;
        entry.error = null;
        break;
      }
      case TenantEvents.suspended.type:
        entry.status = 'suspended';
        break;
      case TenantEvents.activated.type:
        entry.status = 'active';
        break;
      case TenantEvents.archived.type:
        entry.status = 'archived';
        entry.archiveBackupId = known.data.backupId;
        break;
      case TenantEvents.unarchived.type:
        entry.status = 'active';
        entry.archiveBackupId = null;
        break;
      case TenantEvents.placementChanged.type: {
        // A migration switched the tenant: every request from now on goes to the new placement.
        const e = known.data;
        entry.placement = e.to;
        entry.region = e.to.region;
        break;
      }
      default:
        return undefined;
    }
    return entry;
  }

  private put(entry: DirectoryEntry): void {
    if (!this.byId.has(entry.tenantId)) {
      const email = entry.adminEmail.toLowerCase();
      const ids = this.byEmail.get(email);
      if (ids) ids.push(entry.tenantId);
      else this.byEmail.set(email, [entry.tenantId]);
    }
    this.byId.set(entry.tenantId, entry);
    this.byProvisioning.set(entry.provisioningId, entry.tenantId);
    if (entry.slug) this.slugs.set(entry.slug, entry.tenantId);
  }

  private setSlug(entry: DirectoryEntry, slug: string): void {
    if (entry.slug && entry.slug !== slug) this.slugs.delete(entry.slug);
    entry.slug = slug;
    this.slugs.set(slug, entry.tenantId);
  }
}

import type { TenantSummary, UpgradeView } from '@ttm/contracts';
import { z } from 'zod';

/**
 * The live stream's protocol (`GET /api/admin/live`, WebSocket), version 1. Shared by the
 * gateway and the dashboard (type-only imports there): every message is JSON.
 *
 * Server → client: `{ v, epoch, seq, type, at, data }`. `seq` counts the messages of one
 * gateway process (`epoch`) from 1; `welcome` carries the last `seq` sent so far and is not
 * itself counted. After `welcome` comes a `snapshot` (everything the overview shows) unless
 * the client resumed, then one `tick` per interval at most (changes since the last one).
 *
 * Client → server: `hello` (optional, first: `{ v: 1, type: 'hello', resume: { epoch, seq } }`
 * replays the ticks after `seq` when this process still holds them, else a snapshot is sent)
 * and `ping` (answered with `pong`). Anything else closes the socket with a reason.
 */
export const LIVE_PROTOCOL_VERSION = 1;
/** Largest client message, in bytes; a larger one closes the socket (1009). */
export const LIVE_MAX_CLIENT_MESSAGE_BYTES = 1024;

export const LiveCloseCodes = {
  /** Not JSON, or not a message of this protocol. */
  malformed: 1007,
  /** A message of an unknown type or version. */
  policy: 1008,
  /** The client reads too slowly: its unsent messages passed the limit. */
  tooSlow: 4008,
  /** The gateway is stopping; reconnect (to another instance) and resume. */
  goingAway: 1001,
} as const;

export const ClientMessage = z.discriminatedUnion('type', [
  z
    .object({
      v: z.literal(LIVE_PROTOCOL_VERSION),
      type: z.literal('hello'),
      resume: z
        .object({ epoch: z.string().min(1).max(64), seq: z.number().int().nonnegative() })
        .strict()
        .optional(),
    })
    .strict(),
  z.object({ v: z.literal(LIVE_PROTOCOL_VERSION), type: z.literal('ping') }).strict(),
]);
export type ClientMessage = z.output<typeof ClientMessage>;

export type Counts = Record<string, number>;

export type { TenantSummary };

export interface LiveOperation {
  id: string;
  kind: 'provisioning' | 'backup' | 'restore' | 'verification' | 'migration';
  tenant_id: string;
  status: 'pending' | 'running' | 'succeeded' | 'failed';
  progress: number;
  step: string | null;
  started_at: string;
  updated_at: string;
  error?: string;
}

/** A fleet upgrade as the stream carries it: counts, rate and ETA, without per-tenant rows. */
export type LiveUpgrade = Omit<UpgradeView, 'tenants'>;

export interface TenantTraffic {
  tenant_id: string;
  /** Requests per second over the last minute. */
  rate: number;
  /** 95th percentile of the response time over the last minute, in milliseconds. */
  p95_ms: number;
}

export interface Alert {
  name: string;
  severity: 'warning' | 'critical';
  summary: string;
  since: string;
}

export interface AuditLine {
  id: string;
  time: string;
  actor: string;
  action: string;
  scope: string;
  target: string | null;
  outcome: 'success' | 'failure';
}

/** One sample of the fleet, every `sampleEveryMs` (10 s); an hour of them is kept. */
export interface Sample {
  at: string;
  tenants: number;
  active: number;
  registrations_per_min: number;
  requests_per_s: number;
  refusals_per_s: number;
  queue: number | null;
}

export interface Overview {
  tenants: { total: number; by_status: Counts; by_plan: Counts; by_region: Counts };
  registrations_per_min: number;
  provisioning_queue: number | null;
  requests: { rate: number; top: TenantTraffic[] };
  limits: { rate_limited: number; quota_refusals: number; quota_warnings: number; quota_exceeded: number };
  alerts: Alert[];
  projection_lag: Record<string, number | null>;
  dead_letters: number | null;
  audit: AuditLine[];
}

export interface SnapshotData {
  overview: Overview;
  /** Operations running now, and those that ended in the last minute. */
  operations: LiveOperation[];
  /** The last hour of samples, oldest first. */
  history: Sample[];
}

export interface TickData {
  overview: Overview;
  /** Operations that changed since the last tick. */
  operations: LiveOperation[];
  /** Tenants that changed (or appeared) since the last tick, at most `maxTenantsPerTick`. */
  tenants: TenantSummary[];
  /** More tenants changed than one tick carries: reload the list. */
  tenants_truncated: boolean;
  /**
   * Fleet upgrades that changed (or appeared) since the last tick. They are read from the
   * provisioner every second while at least one client is connected; between connections a
   * client reads `GET /api/admin/upgrades` once, as the dashboard does.
   */
  upgrades: LiveUpgrade[];
  /** A new sample, when one was taken since the last tick. */
  sample: Sample | null;
}

interface Envelope<T extends string, D> {
  v: typeof LIVE_PROTOCOL_VERSION;
  epoch: string;
  seq: number;
  type: T;
  at: string;
  data: D;
}

export type WelcomeMessage = Envelope<'welcome', { resumed: boolean; tick_ms: number }>;
export type SnapshotMessage = Envelope<'snapshot', SnapshotData>;
export type TickMessage = Envelope<'tick', TickData>;
export type PongMessage = Envelope<'pong', Record<string, never>>;
export type ServerMessage = WelcomeMessage | SnapshotMessage | TickMessage | PongMessage;

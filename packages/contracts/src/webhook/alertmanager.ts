import { z } from 'zod';

const labels = z.record(z.string(), z.string());

/** One alert of Alertmanager's webhook body (version 4). */
export const AlertmanagerAlert = z.object({
  status: z.enum(['firing', 'resolved']),
  labels,
  annotations: labels.default({}),
  startsAt: z.string(),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
});
export type AlertmanagerAlert = z.infer<typeof AlertmanagerAlert>;

/** The body Alertmanager POSTs to a `webhook_config` receiver (version 4). */
export const AlertmanagerWebhook = z.object({
  version: z.literal('4'),
  groupKey: z.string().optional(),
  truncatedAlerts: z.number().int().nonnegative().optional(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: labels.optional(),
  commonLabels: labels.optional(),
  commonAnnotations: labels.optional(),
  externalURL: z.string().optional(),
  alerts: z.array(AlertmanagerAlert).max(1000),
});
export type AlertmanagerWebhook = z.infer<typeof AlertmanagerWebhook>;

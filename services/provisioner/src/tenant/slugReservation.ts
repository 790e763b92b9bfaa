import { createHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { baseSlug, isValidSlug, slugCandidate } from './slug.js';

const MAX_ATTEMPTS = 25;

/**
 * Reserve a workspace subdomain for good: KV `create()` succeeds for exactly one
 * writer of a key, so two registrations racing for one name get two distinct slugs.
 * A retry by the same tenant finds its own reservation and keeps it.
 */
export async function reserveSlug(slugs: KV, tenantId: string, organizationName: string): Promise<string> {
  const base = baseSlug(organizationName);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    // Suffixes derive from the tenant id, so a retry after a crash walks the same candidates
    // and finds the reservation it already made instead of leaking a second one.
    const slug = slugCandidate(base, attempt, () => suffixFor(tenantId, attempt));
    if (!isValidSlug(slug)) continue;
    try {
      await slugs.create(slug, tenantId);
      return slug;
    } catch (error) {
      const holder = await slugs.get(slug);
      if (holder?.operation === 'PUT' && holder.string() === tenantId) return slug;
      if (holder?.operation !== 'PUT') throw error; // not a "key exists" refusal: let the step retry
    }
  }
  throw new Error(`no free subdomain for "${organizationName}" after ${MAX_ATTEMPTS} candidates`);
}

/** Compensation: release the slug if, and only if, this tenant holds it. */
export async function releaseSlug(slugs: KV, slug: string, tenantId: string): Promise<void> {
  const holder = await slugs.get(slug);
  if (holder && holder.operation === 'PUT' && holder.string() === tenantId) {
    await slugs.delete(slug, { previousSeq: holder.revision });
  }
}

function suffixFor(tenantId: string, attempt: number): string {
  const digest = createHash('sha256').update(`${tenantId}:${attempt}`).digest();
  return digest.readUInt32BE(0).toString(36).padStart(5, '0').slice(0, 5);
}

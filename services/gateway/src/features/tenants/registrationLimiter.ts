import type { Redis } from '@ttm/service-kit';
import { WindowCounters } from '../auth/windowCounters.js';

export interface RegistrationLimits {
  /** `REGISTRATION_MAX_PER_ADDRESS`: registrations one client address may make per window (0: no limit). */
  maxPerAddress: number;
  /** `REGISTRATION_MAX_TOTAL`: registrations every address together may make per window (0: no limit). */
  maxTotal: number;
  /** `REGISTRATION_WINDOW`: starts at the first registration it counts. */
  windowMs: number;
}

/**
 * Registrations counted in Redis, shared by every gateway: one per client address (the address
 * fastify derives under TRUST_PROXY, as the login limiter counts it) and one across all
 * addresses, so many addresses together cannot squat slugs and emails without bound either.
 * Both are taken in one step before the password is hashed; a refused registration takes nothing.
 * Also used, with its own key names, for the resend of a verification e-mail.
 */
export class RegistrationLimiter {
  private readonly counters: WindowCounters;

  constructor(
    redis: Redis,
    private readonly keyPrefix: string,
    private readonly limits: RegistrationLimits,
    private readonly name = 'registrations',
  ) {
    this.counters = new WindowCounters(redis, limits.windowMs);
  }

  /** Seconds to wait when the address or everyone is at the limit, or undefined when this one is counted. */
  async reserve(address: string): Promise<number | undefined> {
    const charges = [];
    if (this.limits.maxPerAddress > 0) {
      charges.push({
        key: `${this.keyPrefix}${this.name}:address:${address}`,
        limit: this.limits.maxPerAddress,
        cost: 1,
      });
    }
    if (this.limits.maxTotal > 0) {
      charges.push({ key: `${this.keyPrefix}${this.name}:total`, limit: this.limits.maxTotal, cost: 1 });
    }
    return this.counters.reserve(charges);
  }
}

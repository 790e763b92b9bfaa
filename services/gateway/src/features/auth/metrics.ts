import { sharedCounter } from '@ttm/service-kit';
import type { Counter, Registry } from 'prom-client';

export type LoginOutcome =
  | 'success'
  | 'failure'
  | 'rate_limited'
  | 'suspended'
  | 'tenant_choice_required'
  | 'email_not_verified';

export function loginAttempts(registry: Registry): Counter<'outcome'> {
  return sharedCounter(registry, {
    name: 'login_attempts_total',
    help: 'Login attempts by outcome',
    labelNames: ['outcome'],
  });
}

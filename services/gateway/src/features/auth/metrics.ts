import { Counter, type Registry } from 'prom-client';

/**
 * A counter on the service registry, or the one already there: plugins may be registered on
 * several app instances (tests) sharing one registry, and prom-client refuses a second copy.
 */
export function sharedCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
): Counter<L> {
  const existing = registry.getSingleMetric(name) as Counter<L> | undefined;
  return existing ?? new Counter({ name, help, labelNames, registers: [registry] });
}

export type LoginOutcome =
  | 'success'
  | 'failure'
  | 'rate_limited'
  | 'suspended'
  | 'tenant_choice_required'
  | 'email_not_verified';

export function loginAttempts(registry: Registry): Counter<'outcome'> {
  return sharedCounter(registry, 'login_attempts_total', 'Login attempts by outcome', ['outcome']);
}

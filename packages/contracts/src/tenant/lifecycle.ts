/**
 * The suspend/activate rule of the tenant aggregate, pure so that both the tenant decider
 * (which enforces it) and the gateway (which answers early with a precise error) apply the
 * same rule.
 */
export type LifecycleChange = 'suspend' | 'activate';

export const LifecycleTransitions = {
  suspend: { from: 'active', to: 'suspended', verb: 'suspended' },
  activate: { from: 'suspended', to: 'active', verb: 'activated' },
} as const satisfies Record<LifecycleChange, { from: string; to: string; verb: string }>;

export type LifecycleCheck =
  /** The change applies: the tenant is in its `from` status. */
  | { outcome: 'apply' }
  /** The tenant is in the target status already: nothing to do, and not an error. */
  | { outcome: 'already' }
  | { outcome: 'refused'; code: 'not-found' | 'invalid-state'; message: string };

/**
 * May a tenant in `status` be suspended or activated? `status` undefined (or `none`, the
 * decider's state before registration) means there is no such tenant.
 */
export function checkLifecycleChange(change: LifecycleChange, status: string | undefined): LifecycleCheck {
  const transition = LifecycleTransitions[change];
  if (status === transition.to) return { outcome: 'already' };
  if (status === transition.from) return { outcome: 'apply' };
  if (status === undefined || status === 'none')
    return { outcome: 'refused', code: 'not-found', message: 'no such tenant' };
  return {
    outcome: 'refused',
    code: 'invalid-state',
    message: `a tenant in status ${status} cannot be ${transition.verb}`,
  };
}

import {
  ActivateTenant,
  ArchiveTenant,
  ChangeTenantPlacement,
  RegisterOrganization,
  RetryProvisioning,
  SuspendTenant,
  UnarchiveTenant,
} from '@ttm/contracts';
import { commandHandlers, type KeyEncryptionKeys, on, type ReceivedEvent } from '@ttm/service-kit';
import { TenantRuleViolation } from './decider.js';
import {
  activateTenant,
  archiveTenant,
  changeTenantPlacement,
  provisionTenant,
  retryProvisioning,
  type SagaDeps,
  suspendTenant,
  unarchiveTenant,
} from './saga.js';
import { openAdminPasswordHash } from './sealedCredentials.js';

/**
 * The provisioner's command handlers, by command type. Each is idempotent: the
 * tenant's events decide what is left to do, so a redelivery only finishes the job.
 */
export function tenantCommandHandlers(
  deps: SagaDeps,
  kek: KeyEncryptionKeys,
  maxDeliver?: number,
): Record<string, (command: ReceivedEvent) => Promise<void>> {
  const refused = (command: ReceivedEvent, error: unknown) => {
    // A rule violation will not change on retry: record it and drop the command.
    if (!(error instanceof TenantRuleViolation)) throw error;
    deps.logger.warn({ type: command.meta.type, id: command.meta.id, reason: error.message }, 'command refused');
  };
  return commandHandlers(
    on(RegisterOrganization, async (command) => {
      // The server's limit when the command consumer says it (an operator may have changed it).
      const limit = command.maxDeliver ?? maxDeliver;
      const lastDelivery = limit === undefined ? undefined : command.deliveryCount >= limit;
      // A KEK that is not configured throws: the command waits for redelivery (TTM_KEK_PREVIOUS fixes it).
      const adminPasswordHash = await openAdminPasswordHash(kek, command.data);
      await provisionTenant(deps, { ...command.data, adminPasswordHash }, { lastDelivery }).catch((e) =>
        refused(command, e),
      );
    }),
    on(SuspendTenant, async (command) => {
      await suspendTenant(deps, command.data).catch((e) => refused(command, e));
    }),
    on(ActivateTenant, async (command) => {
      await activateTenant(deps, command.data).catch((e) => refused(command, e));
    }),
    on(RetryProvisioning, async (command) => {
      await retryProvisioning(deps, command.data).catch((e) => refused(command, e));
    }),
    on(ChangeTenantPlacement, async (command) => {
      await changeTenantPlacement(deps, command.data).catch((e) => refused(command, e));
    }),
    on(ArchiveTenant, async (command) => {
      await archiveTenant(deps, command.data).catch((e) => refused(command, e));
    }),
    on(UnarchiveTenant, async (command) => {
      await unarchiveTenant(deps, command.data).catch((e) => refused(command, e));
    }),
  );
}

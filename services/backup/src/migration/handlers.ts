import { MigrateTenant } from '@ttm/contracts';
import { type CommandHandler, commandHandlers, on } from '@ttm/service-kit';
import type { MigrationDeps } from './deps.js';
import { migrateTenant } from './saga.js';

/** The migration command handler: the saga picks up where the migration's events say it stands. */
export function migrationCommandHandlers(deps: MigrationDeps, maxDeliver: number): Record<string, CommandHandler> {
  return commandHandlers(
    on(MigrateTenant, async (command) => {
      await migrateTenant(deps, command.data, { lastDelivery: command.deliveryCount >= maxDeliver });
    }),
  );
}

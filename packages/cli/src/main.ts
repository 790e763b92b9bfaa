import { createRequire } from 'node:module';
import { Command } from 'commander';
import { activateCommand } from './commands/activate.js';
import { archiveCommand, unarchiveCommand } from './commands/archive.js';
import { auditCommand } from './commands/audit.js';
import { backupCommand, backupsCommand, restoreCommand } from './commands/backup.js';
import { healthCommand } from './commands/health.js';
import { idleCommand } from './commands/idle.js';
import { keysCommand } from './commands/keys.js';
import { listCommand } from './commands/list.js';
import { migrateCommand } from './commands/migrate.js';
import { registerCommand } from './commands/register.js';
import { retryCommand } from './commands/retry.js';
import { showCommand } from './commands/show.js';
import { statsCommand } from './commands/stats.js';
import { suspendCommand } from './commands/suspend.js';
import { upgradeCommand } from './commands/upgrade.js';
import { usersCommand } from './commands/users.js';
import { webhooksCommand } from './commands/webhooks.js';
import { defaultUrl, readEnvironment } from './context.js';
import { reportOf } from './errors.js';

const env = readEnvironment(process.env);
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

// `tenant-cli list | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

const program = new Command('tenant-cli')
  .description(
    'Operate the Twenty Tenant Manager: register, inspect, suspend, back up, restore, move, upgrade and check tenants and services.',
  )
  .version(version)
  .option('--url <url>', `gateway base URL (default: TTM_URL or ${defaultUrl})`)
  .option('--admin-key <key>', 'admin key for admin routes (default: TTM_ADMIN_KEY)')
  .configureOutput({ outputError: (text, write) => write(`tenant-cli: ${text.replace(/^error: /, '')}`) });

program
  .addCommand(registerCommand(env))
  .addCommand(listCommand(env))
  .addCommand(showCommand(env))
  .addCommand(suspendCommand(env))
  .addCommand(activateCommand(env))
  .addCommand(retryCommand(env))
  .addCommand(archiveCommand(env))
  .addCommand(unarchiveCommand(env))
  .addCommand(idleCommand(env))
  .addCommand(statsCommand(env))
  .addCommand(auditCommand(env))
  .addCommand(backupCommand(env))
  .addCommand(backupsCommand(env))
  .addCommand(restoreCommand(env))
  .addCommand(migrateCommand(env))
  .addCommand(healthCommand(env))
  .addCommand(keysCommand(env))
  .addCommand(usersCommand(env))
  .addCommand(webhooksCommand(env))
  .addCommand(upgradeCommand(env));
// addCommand, unlike command(), does not pass the error format down.
for (const command of program.commands) {
  command.copyInheritedSettings(program);
  for (const verb of command.commands) verb.copyInheritedSettings(command);
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const { message, exitCode } = reportOf(error);
  console.error(`tenant-cli: ${message}`);
  process.exitCode = exitCode;
}

import type { JetStreamClient } from '@nats-io/jetstream';
import { Subjects } from '@ttm/contracts';
import { defineAggregate } from '@ttm/service-kit';
import { type BackupCommand, type BackupEvent, type BackupState, backupDecider } from './decider.js';

export const SOURCE = '/ttm/backup';

/** The backup aggregate: load, decide, append with the expected sequence; conflicts reload and retry. */
export const backupAggregate = defineAggregate({
  subject: Subjects.backupEvents,
  decider: backupDecider,
  source: SOURCE,
});

export function executeBackupCommand(
  js: JetStreamClient,
  backupId: string,
  command: BackupCommand,
): Promise<{ state: BackupState; events: BackupEvent[]; lastSeq: number }> {
  return backupAggregate.execute(js, backupId, command);
}

/** The backup as its events say now. */
export async function readBackup(js: JetStreamClient, backupId: string): Promise<BackupState> {
  return (await backupAggregate.read(js, backupId)).state;
}

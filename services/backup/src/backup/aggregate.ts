import type { JetStreamClient } from '@nats-io/jetstream';
import { definitionOf, encodeMessage, Subjects } from '@ttm/contracts';
import { handleCommand, readAggregate } from '@ttm/service-kit';
import { type BackupCommand, type BackupEvent, type BackupState, backupDecider, backupStateOf } from './decider.js';

export const SOURCE = '/ttm/backup';

/** Load the backup, decide, append with the expected sequence; conflicts reload and retry. */
export async function executeBackupCommand(
  js: JetStreamClient,
  backupId: string,
  command: BackupCommand,
): Promise<{ state: BackupState; events: BackupEvent[]; lastSeq: number }> {
  return handleCommand({
    js,
    subject: Subjects.backupEvents(backupId),
    decider: backupDecider,
    command,
    toEvent: (stored) => ({ type: stored.type, data: stored.data }) as BackupEvent,
    encode: (event: BackupEvent) => {
      const def = definitionOf(event.type);
      if (!def) throw new Error(`event type ${event.type} is not in the contracts`);
      return encodeMessage(def, event.data, { source: SOURCE, subject: backupId });
    },
  });
}

/** The backup as its events say now. */
export async function readBackup(js: JetStreamClient, backupId: string): Promise<BackupState> {
  const { events } = await readAggregate(js, Subjects.backupEvents(backupId));
  return backupStateOf(events.map((e) => ({ type: e.type, data: e.data }) as BackupEvent));
}

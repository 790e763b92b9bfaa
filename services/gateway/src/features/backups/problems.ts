import { createProblem } from '../../problems.js';

/** Problem types of the backup routes. Add kinds; never rename one. */
export const backupProblemTypes = {
  backupNotFound: 'https://ttm.dev/problems/backup-not-found',
  backupStateConflict: 'https://ttm.dev/problems/backup-state-conflict',
  restoreTargetConflict: 'https://ttm.dev/problems/restore-target-conflict',
  restoreRegionRefused: 'https://ttm.dev/problems/restore-region-refused',
} as const;

export const BackupNotFound = createProblem<[backupId: string]>({
  code: 'TTM_BACKUP_NOT_FOUND',
  status: 404,
  type: backupProblemTypes.backupNotFound,
  title: 'Backup not found',
  detail: 'no backup has the id %s',
});

export const BackupStateConflict = createProblem<[backupId: string, status: string, action: string]>({
  code: 'TTM_BACKUP_STATE_CONFLICT',
  status: 409,
  type: backupProblemTypes.backupStateConflict,
  title: 'Backup state conflict',
  detail: 'backup %s is %s and cannot be %s',
});

export const RestoreTargetConflict = createProblem<[reason: string]>({
  code: 'TTM_RESTORE_TARGET_CONFLICT',
  status: 409,
  type: backupProblemTypes.restoreTargetConflict,
  title: 'Restore target conflict',
  detail: '%s',
});

export const RestoreRegionRefused = createProblem<[tenantId: string, home: string, asked: string]>({
  code: 'TTM_RESTORE_REGION_REFUSED',
  status: 409,
  type: backupProblemTypes.restoreRegionRefused,
  title: 'Restore into another region refused',
  detail: "tenant %s's data stays in its region %s: a restore or clone into %s is refused; move the tenant there first",
});

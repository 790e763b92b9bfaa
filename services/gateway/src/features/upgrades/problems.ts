import { createProblem } from '../../problems.js';

const base = 'https://ttm.dev/problems';

/** Problem types of the upgrade routes. Add kinds; never rename one. */
export const upgradeProblemTypes = {
  unknownSchemaVersion: `${base}/unknown-schema-version`,
  upgradeNotFound: `${base}/upgrade-not-found`,
  upgradeConflict: `${base}/upgrade-conflict`,
  upgradesUnavailable: `${base}/upgrades-unavailable`,
  badRequest: `${base}/bad-request`,
} as const;

export const UnknownSchemaVersion = createProblem<[reason: string]>({
  code: 'TTM_UNKNOWN_SCHEMA_VERSION',
  status: 422,
  type: upgradeProblemTypes.unknownSchemaVersion,
  title: 'Unknown schema version',
  detail: '%s',
});

export const UpgradeNotFound = createProblem<[reason: string]>({
  code: 'TTM_UPGRADE_NOT_FOUND',
  status: 404,
  type: upgradeProblemTypes.upgradeNotFound,
  title: 'Upgrade not found',
  detail: '%s',
});

export const UpgradeConflict = createProblem<[reason: string]>({
  code: 'TTM_UPGRADE_CONFLICT',
  status: 409,
  type: upgradeProblemTypes.upgradeConflict,
  title: 'Upgrade conflict',
  detail: '%s',
});

export const UpgradeBadRequest = createProblem<[reason: string]>({
  code: 'TTM_UPGRADE_BAD_REQUEST',
  status: 400,
  type: upgradeProblemTypes.badRequest,
  title: 'Bad request',
  detail: '%s',
});

export const UpgradesUnavailable = createProblem<[reason: string]>({
  code: 'TTM_UPGRADES_UNAVAILABLE',
  status: 503,
  type: upgradeProblemTypes.upgradesUnavailable,
  title: 'Upgrades unavailable',
  detail: 'the provisioner did not answer (%s): retry',
});

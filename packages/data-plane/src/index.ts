export { inTransaction, withDatabase } from '@ttm/service-kit';
export * from './connectionBudget.js';
export * from './coreSchema.js';
export * from './dataPlanePools.js';
export * from './migrations/index.js';
export * from './pipeline.js';
export * from './placement.js';
export * from './twentyLayout.js';
export * from './writeGate.js';

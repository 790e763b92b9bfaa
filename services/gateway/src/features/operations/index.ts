/** Long-running operations, one model for every kind: `GET /api/operations/{id}` and its event stream. */
export { FollowedIndex } from './followedIndex.js';
export { type Operation, type OperationStatus, provisioningOperation } from './operation.js';
export { operationRoutes, UNKNOWN_OPERATION_GRACE_MS } from './routes.js';
export { OperationTracker } from './tracker.js';

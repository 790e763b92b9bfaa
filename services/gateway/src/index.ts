/**
 * The gateway's public face, for what runs it or measures it from outside (the test stack,
 * benchmarks): start the gateway, its tenant directory and projection, and the problem shape it answers with.
 */

export { DATA_PLANE_APPLICATION_NAME } from './features/dataPlane/index.js';
export { type DirectoryEntry, GATEWAY_SCHEMA, TenantDirectory, tenantsProjection } from './features/tenants/index.js';
export { type Gateway, startGateway } from './gateway.js';
export type { Problem } from './problems.js';

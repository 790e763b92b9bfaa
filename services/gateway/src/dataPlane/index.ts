export { ClusterPools, type ClusterPoolsOptions, withDatabase } from './clusterPools.js';
export { findWorkspaceUser, type WorkspaceUser } from './workspaceUsers.js';

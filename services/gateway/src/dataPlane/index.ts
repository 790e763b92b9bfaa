export {
  ClusterPools,
  type ClusterPoolsOptions,
  DATA_PLANE_APPLICATION_NAME,
  type DataPlanePool,
  withDatabase,
} from './clusterPools.js';

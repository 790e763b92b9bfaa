/** The fleet as operators see it: `GET /api/admin/stats`, the fleet gauges, durable consumers' backlog. */
export { ConsumerBacklog } from './backlog.js';
export { fleetMetrics } from './fleetMetrics.js';
export { fleetRoutes } from './routes.js';
export { FleetStats } from './schemas.js';
export { fleetStats } from './stats.js';

import type { FastifyPluginAsync } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import { adminRouteSecurity as security, adminUnauthorizedSchema as unauthorized } from '../../plugins/adminAuth.js';
import { zodSchema } from '../../schema.js';
import { FleetStats } from './schemas.js';
import { fleetStats } from './stats.js';

const tags = ['admin'];

/** `GET /api/admin/stats`: registered in the admin scope (behind `X-Admin-Key`). */
export const fleetRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  app.get(
    '/api/admin/stats',
    {
      schema: {
        summary: 'Fleet totals by status, plan and region; provisioning queue and durations',
        tags,
        security,
        response: { 200: zodSchema(FleetStats, { io: 'output' }), 401: unauthorized },
      },
    },
    async () => fleetStats({ pool: deps.pool, backlog: deps.backlog, logger: deps.logger }),
  );
};

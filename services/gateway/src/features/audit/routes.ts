import type { FastifyPluginAsync } from 'fastify';
import type { GatewayDeps } from '../../deps.js';
import { adminRouteSecurity as security, adminUnauthorizedSchema as unauthorized } from '../../plugins/adminAuth.js';
import { problemJsonSchema } from '../../problems.js';
import { zodSchema } from '../../schema.js';
import { searchAuditLog } from './auditLog.js';
import { AuditPage, AuditQuery } from './schemas.js';

const tags = ['admin'];
const badRequest = { ...problemJsonSchema, description: 'A parameter or the cursor is invalid' };

/** `GET /api/admin/audit`: registered in the admin scope (behind `X-Admin-Key`). */
export const auditRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  app.get<{ Querystring: AuditQuery }>(
    '/api/admin/audit',
    {
      schema: {
        summary: 'Who did what, when, from where, with what outcome; newest first',
        tags,
        security,
        querystring: zodSchema(AuditQuery),
        response: { 200: zodSchema(AuditPage, { io: 'output' }), 400: badRequest, 401: unauthorized },
      },
    },
    async (request) => searchAuditLog(deps.pool, request.query),
  );
};

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { adminAuth } from '../../plugins/adminAuth.js';
import { securitySchemes } from '../../plugins/openapi.js';
import { withHeaders } from '../../problemHeaders.js';
import { createProblem, problemJsonSchema, TooManyLoginFailures } from '../../problems.js';
import { zodSchema } from '../../schema.js';
import { LoginLimiter } from '../auth/loginLimiter.js';
import type { LiveAggregator } from './aggregator.js';
import type { LiveHub } from './hub.js';
import { LIVE_MAX_CLIENT_MESSAGE_BYTES, LIVE_PROTOCOL_VERSION } from './protocol.js';
import { CSRF_HEADER, CsrfHeaderRequired, type DashboardSessions, SESSION_COOKIE } from './session.js';

export interface DashboardOptions {
  deps: GatewayDeps;
  sessions: DashboardSessions;
  aggregator: LiveAggregator;
  hub: LiveHub;
  /** The built front-end (index.html and assets/). */
  assetsDir: string;
}

export const WrongOperatorKey = createProblem({
  code: 'TTM_WRONG_OPERATOR_KEY',
  status: 401,
  type: 'https://ttm.dev/problems/unauthorized',
  title: 'Unauthorized',
  detail: 'that is not the operator key (SUPER_ADMIN_KEY)',
});

export const UpgradeRequired = createProblem({
  code: 'TTM_UPGRADE_REQUIRED',
  status: 426,
  type: 'https://ttm.dev/problems/upgrade-required',
  title: 'Upgrade Required',
  detail: 'the live stream is a WebSocket: send an upgrade request (Connection: Upgrade, Upgrade: websocket)',
});

export const DashboardNotBuilt = createProblem({
  code: 'TTM_DASHBOARD_NOT_BUILT',
  status: 503,
  type: 'https://ttm.dev/problems/unavailable',
  title: 'Service Unavailable',
  detail: 'the dashboard assets are not built: run `npm run dashboard:build`',
});

const SignIn = z.object({
  key: z.string().min(1).max(500).describe('The operator key ($SUPER_ADMIN_KEY)'),
  actor: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,99}$/)
    .optional()
    .describe('Who signs in (e.g. ops@example.com), for the audit log'),
});
type SignIn = z.output<typeof SignIn>;

const tags = ['dashboard'];
const problem = (description: string) => ({ ...problemJsonSchema, description });

export const LIVE_PROTOCOL_DESCRIPTION = `WebSocket (RFC 6455) stream of the fleet for the dashboard and for programs.
Authorize the upgrade with X-Admin-Key, or with the dashboard session cookie (then the Origin must be the gateway's);
without either the upgrade gets 401.

Every message is JSON text. Server messages: \`{ "v": ${LIVE_PROTOCOL_VERSION}, "epoch": "<process id>", "seq": <n>,
"type": "welcome" | "snapshot" | "tick" | "pong", "at": "<time>", "data": {…} }\`. \`seq\` numbers the ticks of one
gateway process (\`epoch\`); \`welcome\` and \`snapshot\` carry the last \`seq\` sent.
- \`welcome\`: \`{ resumed, tick_ms }\`.
- \`snapshot\`: \`{ overview, operations, history }\`: fleet counts by status, plan and region, registrations per minute,
  provisioning queue, request rate and p95 of the top tenants, rate-limit and quota refusals, quota warnings and
  exceeded limits, alerts firing, projection lag, dead letters, recent audit entries; operations in flight
  (provisioning, backup, restore, migration) with progress; an hour of 10 s samples.
- \`tick\` (at most one per \`tick_ms\`, 500 ms, however busy the fleet): \`{ overview, operations (changed),
  tenants (changed or new), tenants_truncated, upgrades (fleet upgrades changed or new: counts, rate, ETA; read each
  second while a client is connected), sample }\`.

Client messages (at most ${LIVE_MAX_CLIENT_MESSAGE_BYTES} bytes): \`{ "v": 1, "type": "hello", "resume": { "epoch", "seq" } }\`
first (optional: without it a snapshot follows within 2 s), \`{ "v": 1, "type": "ping" }\` any time.
A reconnecting client sends its last epoch and seq: the same process replays the ticks it missed (welcome.resumed = true);
another process, or one that no longer holds them, sends a snapshot instead.

Closes: 1007 malformed message (not JSON, not this protocol), 1008 unknown version or a second hello, 1009 message too
large, 4008 too slow (more than 1 MiB unsent: the client is dropped, not buffered), 1001 gateway stopping.`;

/**
 * The operator dashboard: `/dashboard` (the built front-end), its sign-in (`/api/dashboard/session`:
 * operator key → HttpOnly session cookie, with the API's login limits), the live stream
 * (`/api/admin/live`), and the request hook that feeds the per-tenant traffic.
 */
export const dashboard = fp<DashboardOptions>(
  async (app, options) => {
    const { deps, sessions, hub, aggregator } = options;
    const limiter = new LoginLimiter(deps.redis, deps.config.REDIS_KEY_PREFIX, {
      maxFailuresPerAccount: deps.config.LOGIN_MAX_FAILURES,
      maxHashesPerAddress: deps.config.LOGIN_MAX_HASHES_PER_ADDRESS ?? deps.config.LOGIN_MAX_FAILURES * 20,
      windowMs: deps.config.LOGIN_FAILURE_WINDOW,
    });
    // The operator key is one account per address: reserved before the key is compared.
    const account = (request: FastifyRequest) => [{ tenantId: 'operator', email: `operator-key@${request.ip}` }];

    app.addHook('onResponse', async (request, reply) => {
      const principal = (request as { principal?: { tenantId?: string } | null }).principal;
      if (principal?.tenantId) aggregator.recordRequest(principal.tenantId, reply.elapsedTime);
    });

    app.post<{ Body: SignIn }>(
      '/api/dashboard/session',
      {
        schema: {
          summary: 'Sign in to the dashboard with the operator key: sets the HttpOnly session cookie',
          description:
            `Answers 204 with \`Set-Cookie: ${SESSION_COOKIE}=…; HttpOnly; SameSite=Strict\`. The cookie then authorizes ` +
            `the admin API like X-Admin-Key; requests other than GET must also send \`X-TTM-CSRF: 1\`. Wrong keys ` +
            'count against the same limits as failed logins (LOGIN_MAX_FAILURES per LOGIN_FAILURE_WINDOW).',
          tags,
          body: zodSchema(SignIn),
          response: {
            204: { type: 'null', description: 'Signed in' },
            401: problem('Not the operator key'),
            429: problem('Too many wrong keys from this address; see Retry-After'),
          },
        },
      },
      async (request, reply) => {
        const wait = await limiter.reserve(account(request), request.ip, 1);
        if (wait !== undefined) throw withHeaders(new TooManyLoginFailures(wait), { 'retry-after': String(wait) });
        const actor = { kind: 'admin' as const, id: request.body.actor ?? 'dashboard' };
        if (!sessions.keyMatches(request.body.key)) {
          await deps.audit
            .record(
              { actor, action: 'dashboard-sign-in', scope: 'system', outcome: 'failure', detail: 'wrong key' },
              request,
            )
            .catch(() => undefined);
          throw new WrongOperatorKey();
        }
        await limiter.succeeded(account(request));
        const token = await sessions.open(actor.id);
        await deps.audit
          .record({ actor, action: 'dashboard-sign-in', scope: 'system', outcome: 'success' }, request)
          .catch(() => undefined);
        reply.setCookie(SESSION_COOKIE, token, {
          httpOnly: true,
          sameSite: 'strict',
          secure: request.protocol === 'https',
          path: '/',
          maxAge: Math.floor(sessions.ttlMs / 1_000),
        });
        return reply.code(204).send();
      },
    );

    app.get(
      '/api/dashboard/session',
      {
        schema: {
          summary: 'Whether the dashboard session cookie is valid',
          tags,
          response: {
            200: {
              type: 'object',
              required: ['signed_in'],
              properties: { signed_in: { type: 'boolean' } },
            },
          },
        },
      },
      async (request) => ({ signed_in: await sessions.valid(request.cookies[SESSION_COOKIE]) }),
    );

    app.delete(
      '/api/dashboard/session',
      {
        schema: {
          summary: 'Sign out of the dashboard (send X-TTM-CSRF: 1)',
          tags,
          response: { 204: { type: 'null', description: 'Signed out' }, 403: problem('X-TTM-CSRF is missing') },
        },
      },
      async (request, reply) => {
        if (request.headers[CSRF_HEADER] !== '1') throw new CsrfHeaderRequired();
        const token = request.cookies[SESSION_COOKIE];
        if (token) await sessions.close(token);
        reply.clearCookie(SESSION_COOKIE, { path: '/' });
        return reply.code(204).send();
      },
    );

    await app.register(fastifyWebsocket, {
      options: { maxPayload: LIVE_MAX_CLIENT_MESSAGE_BYTES },
    });
    await app.register(async (live) => {
      await live.register(adminAuth, {
        adminKey: deps.config.SUPER_ADMIN_KEY,
        audit: deps.audit,
        logger: deps.logger,
        session: sessions.authorizes,
      });
      // A plain GET (no upgrade) gets 426; `wsHandler` rather than `websocket: true` keeps the route documented.
      live.route({
        method: 'GET',
        url: '/api/admin/live',
        wsHandler: (socket) => hub.attach(socket),
        schema: {
          summary: 'The live stream of the fleet (WebSocket, protocol version 1)',
          description: LIVE_PROTOCOL_DESCRIPTION,
          tags,
          security: [{ [securitySchemes.adminKey]: [] }],
          response: {
            101: { type: 'null', description: 'Switching Protocols: the stream starts with `welcome`' },
            401: problem('No X-Admin-Key and no valid session cookie'),
            403: problem('Session cookie from another origin'),
            426: problem('Not a WebSocket upgrade request'),
          },
        },
        handler: async () => {
          throw new UpgradeRequired();
        },
      });
    });

    const indexFile = join(options.assetsDir, 'index.html');
    if (existsSync(indexFile)) {
      await app.register(fastifyStatic, {
        root: join(options.assetsDir, 'assets'),
        prefix: '/dashboard/assets/',
        immutable: true,
        maxAge: '365d',
      });
    }
    const html = async () => {
      if (!existsSync(indexFile)) throw new DashboardNotBuilt();
      return readFile(indexFile, 'utf8');
    };
    const page = async (_request: FastifyRequest, reply: FastifyReply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header(
          'content-security-policy',
          "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
        )
        .send(await html());
    // Client-side routes (/dashboard/tenants/…) all get the same page.
    app.get('/dashboard', { schema: { hide: true } }, page);
    app.get('/dashboard/*', { schema: { hide: true } }, page);
  },
  { name: 'ttm-dashboard', fastify: '5.x' },
);

/** Where the built front-end lives: `services/gateway/dashboard/dist`. */
export const defaultAssetsDir = new URL('../../../dashboard/dist', import.meta.url).pathname;

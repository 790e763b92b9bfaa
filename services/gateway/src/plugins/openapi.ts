import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';

export interface OpenApiOptions {
  version: string;
}

/** Names of the security schemes, for a route's `schema.security`: `[{ [securitySchemes.adminKey]: [] }]`. */
export const securitySchemes = {
  adminKey: 'adminKey',
  bearer: 'bearerAuth',
  tenantApiKey: 'tenantApiKey',
} as const;

/** Tenant routes: the access token, or a tenant API key (as a bearer credential or `X-Api-Key`). */
export const tenantRouteSecurity: Record<string, string[]>[] = [
  { [securitySchemes.bearer]: [] },
  { [securitySchemes.tenantApiKey]: [] },
];

export const openApiDocumentPath = '/docs/openapi.json';
export const docsPath = '/docs';

/**
 * The OpenAPI 3.1 document, built from the schemas routes declare (so it cannot drift from
 * the code), served at `/docs/openapi.json` and rendered by Swagger UI at `/docs`.
 * Registered before any feature route: @fastify/swagger only sees routes added after it.
 */
export const openApi = fp<OpenApiOptions>(
  async (app, { version }) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Twenty Tenant Manager API',
          version,
          description:
            'Control plane for Twenty CRM workspaces. Errors are RFC 9457 application/problem+json; ' +
            'asynchronous work answers 202 with an operation to poll.',
        },
        servers: [{ url: '/' }],
        components: {
          securitySchemes: {
            [securitySchemes.adminKey]: {
              type: 'apiKey',
              in: 'header',
              name: 'X-Admin-Key',
              description: 'The operator key ($SUPER_ADMIN_KEY), for admin endpoints',
            },
            [securitySchemes.bearer]: {
              type: 'http',
              scheme: 'bearer',
              bearerFormat: 'JWT',
              description:
                'Access token from the login endpoint (keys at /.well-known/jwks.json); tenant routes also take a ' +
                'tenant API key (`ttm_…`) here',
            },
            [securitySchemes.tenantApiKey]: {
              type: 'apiKey',
              in: 'header',
              name: 'X-Api-Key',
              description: 'A tenant API key (`ttm_…`, from POST /api/tenant/api-keys), for tenant routes',
            },
          },
        },
      },
    });

    // Serves `/docs` (and `/docs/`) as HTML, its assets under `/docs/static`, and the document at `/docs/json`.
    await app.register(swaggerUi, { routePrefix: docsPath });

    app.get(openApiDocumentPath, { schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'ttm-openapi', fastify: '5.x' },
);

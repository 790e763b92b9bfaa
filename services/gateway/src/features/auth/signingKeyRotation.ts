import type { KeyEncryptionKeys, Logger, Pool } from '@ttm/service-kit';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import {
  adminActorOf,
  adminRouteSecurity as security,
  adminUnauthorizedSchema as unauthorized,
} from '../../plugins/adminAuth.js';
import { zodSchema } from '../../schema.js';
import { rotateSigningKey } from './keys.js';

const Rotation = z.object({
  kid: z.string().describe('The key that signs access tokens from now on'),
  retired: z
    .array(z.string())
    .describe('The keys that signed until now: still in the JWKS, and accepted until their tokens expire'),
});

/** `POST /api/admin/signing-keys/rotate`: registered in the admin scope (behind `X-Admin-Key`). */
export const signingKeyRoutes: FastifyPluginAsync<GatewayDeps> = async (app, deps) => {
  app.post(
    '/api/admin/signing-keys/rotate',
    {
      schema: {
        summary: 'Rotate the access-token signing key now',
        description:
          'A new key signs from now on; the old one stays published and verifying until the tokens it signed expire, so nobody is signed out.',
        tags: ['admin'],
        security,
        response: { 200: zodSchema(Rotation, { io: 'output' }), 401: unauthorized },
      },
    },
    async (request) => {
      const rotation = await rotateSigningKey(deps.pool, deps.kek);
      await deps.keys.reload();
      await deps.audit.record(
        {
          actor: adminActorOf(request),
          action: 'signing-key-rotated',
          scope: 'system',
          target: { kind: 'signing-key', id: rotation.kid },
          outcome: 'success',
          detail: rotation.retired.length > 0 ? `retired ${rotation.retired.join(', ')}` : null,
        },
        request,
      );
      return rotation;
    },
  );
};

/**
 * Rotate the signing key once it is `maxAgeMs` old: every gateway looks (at start, then every
 * tenth of the age, at most hourly), and the rotation itself checks the age under its lock, so
 * one gateway rotates. 0 turns it off.
 */
export function scheduleSigningKeyRotation(options: {
  pool: Pool;
  kek: KeyEncryptionKeys;
  logger: Logger;
  maxAgeMs: number;
}): { stop(): void } {
  if (options.maxAgeMs <= 0) return { stop: () => undefined };
  const check = () => {
    rotateSigningKey(options.pool, options.kek, options.maxAgeMs).then(
      (rotation) => {
        if (rotation)
          options.logger.info({ kid: rotation.kid, retired: rotation.retired }, 'signing key rotated (schedule)');
      },
      (error: unknown) =>
        options.logger.warn({ err: error }, 'the scheduled signing key rotation failed; will try again'),
    );
  };
  const timer = setInterval(check, Math.min(Math.max(options.maxAgeMs / 10, 100), 3_600_000));
  timer.unref();
  check();
  return { stop: () => clearInterval(timer) };
}

import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { GatewayDeps } from '../../deps.js';
import { derivedUuid, fingerprintOf, parseIdempotencyKey, type StoredResponse } from '../../idempotency.js';
import { withHeaders } from '../../problemHeaders.js';
import { IdempotencyKeyInFlight, IdempotencyKeyReused, InvalidIdempotencyKey } from '../../problems.js';
import { principalOf } from './context.js';

export const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .describe(
      'Makes retries safe: the same key with the same body answers the first answer again (for IDEMPOTENCY_TTL); ' +
        'with another body 422; while the first is still running 409. Keys are per organization.',
    ),
});

/**
 * Answer a tenant POST at most once per `Idempotency-Key` (the registration's store, in Redis),
 * scoped to the caller's organization and the route, so one tenant's keys never meet another's.
 * `work` gets a seed: with a key, ids derived from it make a retry after a crash create the same
 * record rather than a second one; without a key it is undefined.
 */
export async function idempotently(
  deps: GatewayDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  route: string,
  work: (seed: ((...parts: string[]) => string) | undefined) => Promise<StoredResponse>,
): Promise<FastifyReply> {
  const key = parseIdempotencyKey(request.headers['idempotency-key']);
  if (key === null) throw new InvalidIdempotencyKey();
  const send = (answer: StoredResponse, replayed = false) =>
    reply
      .code(answer.status)
      .headers(replayed ? { ...answer.headers, 'idempotent-replayed': 'true' } : answer.headers)
      .send(answer.body);
  if (key === undefined) return send(await work(undefined));

  const store = deps.idempotency;
  const scope = `tenant:${principalOf(request).tenantId}:${route}`;
  const fingerprint = fingerprintOf(request.body);
  const claim = await store.claim(scope, key, fingerprint);
  switch (claim.kind) {
    case 'replay':
      return send(claim.response, true);
    case 'mismatch':
      throw new IdempotencyKeyReused();
    case 'in-flight':
      throw withHeaders(new IdempotencyKeyInFlight(), { 'retry-after': '1' });
    case 'first':
      break;
  }
  let answer: StoredResponse;
  try {
    answer = await work((...parts) => derivedUuid(scope, key, fingerprint, ...parts));
  } catch (error) {
    await store
      .abandon(scope, key, fingerprint, claim.owner)
      .catch((releaseError: unknown) =>
        request.log.warn({ err: releaseError }, 'could not release an Idempotency-Key after a failure'),
      );
    throw error;
  }
  await store.complete(scope, key, fingerprint, answer);
  return send(answer);
}

import { STATUS_CODES } from 'node:http';
import { isTransientDatabaseError } from '@ttm/service-kit';
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import fp from 'fastify-plugin';
import { type FieldProblem, isDomainProblem, type Problem, problemTypes } from '../problems.js';
import { requestIdHeader } from './requestId.js';

export const problemContentType = 'application/problem+json; charset=utf-8';

/** A problem before it is tied to a request (`instance` and `request_id` come from the request). */
export type ProblemBody = Omit<Problem, 'instance' | 'request_id'>;

/**
 * Every error the gateway answers, whatever raised it, leaves as RFC 9457 problem+json:
 * schema validation, unreadable bodies, unknown routes, domain errors made with
 * `createProblem`, and unexpected failures (500, logged, nothing internal in the body).
 */
export const problemDetails = fp(
  async (app) => {
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const problem = describeError(error, request);
      logProblem(error, problem, request);
      // Errors may carry headers the client needs (Retry-After from a rate limit, Allow, …).
      const { headers } = error as { headers?: Record<string, string> };
      if (headers) reply.headers(headers);
      if (problem.type === problemTypes.databaseBusy) reply.header('retry-after', String(retryAfterOf(error)));
      return sendProblem(request, reply, problem);
    });

    app.setNotFoundHandler((request, reply) =>
      sendProblem(request, reply, {
        type: problemTypes.notFound,
        title: 'Not found',
        status: 404,
        detail: `No route matches ${request.method} ${request.url.split('?')[0]}`,
      }),
    );
  },
  { name: 'ttm-problem-details', fastify: '5.x' },
);

/**
 * For fastify's `frameworkErrors` option: errors raised while routing, before any hook runs
 * (a URL that does not decode, a path parameter over `maxParamLength`).
 */
export function frameworkErrorProblem(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const problem = describeError(error, request);
  logProblem(error, problem, request);
  void sendProblem(request, reply, problem);
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, body: ProblemBody): FastifyReply {
  const { type, title, status, detail, ...extensions } = body;
  const problem: Problem = {
    type,
    title,
    status,
    detail,
    instance: request.url,
    request_id: request.id,
    ...extensions,
  };
  // Sent as a string so no route's response schema can reshape or strip it.
  return reply.code(status).header(requestIdHeader, request.id).type(problemContentType).send(JSON.stringify(problem));
}

function describeError(error: FastifyError, request: FastifyRequest): ProblemBody {
  const status = statusOf(error);
  if (isDomainProblem(error)) {
    const { type, title, detail, code } = error.toProblemDetails();
    return { type, title, status, detail, code };
  }
  if (error.validation) return validationProblem(error.validation, error.validationContext ?? 'request');

  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {
        type: problemTypes.payloadTooLarge,
        title: 'Payload too large',
        status: 413,
        detail: `The request body is larger than the limit of ${request.routeOptions.bodyLimit} bytes`,
      };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        type: problemTypes.unsupportedMediaType,
        title: 'Unsupported media type',
        status: 415,
        detail: `Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')} is not accepted; send application/json`,
      };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return malformedBody('The request body is not valid JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return malformedBody('The request body is empty but its Content-Type says JSON');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return malformedBody('The request body size does not match its Content-Length');
  }

  if (status >= 500 && isTransientDatabaseError(error)) {
    // Never a 500 for lack of connections: the client can retry, and nothing was done.
    return {
      type: problemTypes.databaseBusy,
      title: 'Database busy',
      status: 503,
      detail: `The database had no free connection for this request, which was not carried out. Retry after ${retryAfterOf(error)} s (a POST with the same Idempotency-Key).`,
    };
  }
  if (status >= 500) {
    return {
      type: problemTypes.internal,
      title: 'Internal server error',
      status,
      detail: 'The request failed on our side. Retry later; if it keeps failing, report the request_id.',
    };
  }
  // Another 4xx raised by fastify or a plugin: its message is written for the client.
  return { type: typeForStatus(status), title: STATUS_CODES[status] ?? 'Bad request', status, detail: error.message };
}

function validationProblem(issues: FastifySchemaValidationError[], part: string): ProblemBody {
  const errors = issues.map((issue) => fieldProblem(issue, part));
  const reasons = errors.map((e) => `${e.name || part} ${e.reason}`).join('; ');
  return {
    type: problemTypes.validation,
    title: 'Request validation failed',
    status: 400,
    detail: `The request ${part} is invalid: ${reasons}`,
    errors,
  };
}

function fieldProblem(issue: FastifySchemaValidationError, part: string): FieldProblem {
  const segments = issue.instancePath === '' ? [] : issue.instancePath.split('/').slice(1).map(unescapePointer);
  let reason = issue.message ?? `fails ${issue.keyword}`;
  if (issue.keyword === 'required' && typeof issue.params.missingProperty === 'string') {
    segments.push(issue.params.missingProperty);
    reason = 'is required';
  } else if (issue.keyword === 'additionalProperties' && typeof issue.params.additionalProperty === 'string') {
    segments.push(issue.params.additionalProperty);
    reason = 'is not allowed';
  }
  return {
    in: part,
    name: segments.join('.'),
    pointer: `#${segments.map((s) => `/${encodeURIComponent(escapePointer(s))}`).join('')}`,
    reason,
  };
}

function malformedBody(detail: string): ProblemBody {
  return { type: problemTypes.malformedBody, title: 'Malformed request body', status: 400, detail };
}

function typeForStatus(status: number): string {
  switch (status) {
    case 400:
      return problemTypes.badRequest;
    case 404:
      return problemTypes.notFound;
    case 413:
      return problemTypes.payloadTooLarge;
    case 415:
      return problemTypes.unsupportedMediaType;
    default:
      // RFC 9457 §4.2.1: no more specific type than the status code itself.
      return 'about:blank';
  }
}

/** Seconds a client should wait after a transient database error (the budget says; else 1). */
function retryAfterOf(error: unknown): number {
  const seconds = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  return typeof seconds === 'number' && seconds > 0 ? seconds : 1;
}

function statusOf(error: FastifyError): number {
  const candidate = error.statusCode ?? (error as { status?: unknown }).status;
  return typeof candidate === 'number' && candidate >= 400 && candidate <= 599 ? candidate : 500;
}

function logProblem(error: FastifyError, problem: ProblemBody, request: FastifyRequest): void {
  if (problem.status >= 500) {
    request.log.error({ err: error, problem_type: problem.type }, 'request failed');
  } else {
    request.log.info({ status: problem.status, problem_type: problem.type, code: error.code }, problem.detail);
  }
}

const unescapePointer = (segment: string) => segment.replaceAll('~1', '/').replaceAll('~0', '~');
const escapePointer = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

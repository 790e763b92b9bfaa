/** How the process ends: scripts branch on these, so they never change meaning. */
export const exitCodes = {
  ok: 0,
  /** The API refused the request, the arguments are wrong, or the work itself failed. */
  failure: 1,
  /** The gateway (or another service) could not be reached at all. */
  unreachable: 2,
} as const;

/** Something the person typing can fix: a missing flag, a bad value, a missing admin key. */
export class UsageError extends Error {
  readonly exitCode = exitCodes.failure;
}

/** One offending input of a validation problem. */
export interface FieldProblem {
  in?: string;
  name: string;
  pointer?: string;
  reason: string;
}

/** An RFC 9457 `application/problem+json` body as the gateway sends it. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  request_id?: string;
  code?: string;
  errors?: FieldProblem[];
}

/** The API answered with an error status. */
export class ApiError extends Error {
  readonly exitCode = exitCodes.failure;

  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
    readonly request: string,
  ) {
    super(describeProblem(status, problem, request));
  }
}

/** Nothing answered: refused, unknown host, timed out. */
export class ConnectionError extends Error {
  readonly exitCode = exitCodes.unreachable;

  constructor(
    readonly url: string,
    readonly reason: string,
    hint = 'is the gateway running? set TTM_URL',
  ) {
    super(`cannot reach ${url} (${reason}): ${hint}`);
  }
}

function describeProblem(status: number, problem: Problem | undefined, request: string): string {
  if (!problem) return `${request} answered HTTP ${status}`;
  const fields = (problem.errors ?? []).map((e) => `${e.name || e.in || 'request'}: ${e.reason}`);
  const detail = fields.length > 0 ? fields.join('; ') : problem.detail;
  const message = detail ? `${problem.title}: ${detail}` : problem.title;
  // A 401/403 nearly always means a wrong or missing key: the admin key, or an organization's token.
  if (status !== 401 && status !== 403) return message;
  return request.includes(' /api/tenant/') ? `${message} (check TTM_TOKEN)` : `${message} (check TTM_ADMIN_KEY)`;
}

/** The single line printed for an error, and the exit code that goes with it. */
export function reportOf(error: unknown): { message: string; exitCode: number } {
  if (error instanceof UsageError || error instanceof ApiError || error instanceof ConnectionError) {
    return { message: oneLine(error.message), exitCode: error.exitCode };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { message: oneLine(message), exitCode: exitCodes.failure };
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

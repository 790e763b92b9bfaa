/**
 * SQLSTATEs that say "try again later", not "this is wrong": the connection failed or was
 * refused (class 08), the server ran out of a resource such as connection slots (class 53),
 * the server is shutting down or restarting (57P01–57P03), or a serializable transaction lost
 * a race (40001). Anything else (a constraint, a syntax error, a missing relation) fails the
 * same way on every attempt.
 */
export function isTransientSqlState(code: string): boolean {
  return (
    code.startsWith('08') ||
    code.startsWith('53') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    code === '40001'
  );
}

/** Node socket errors of a database that is down, restarting or unreachable for a moment. */
const transientSocketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN']);

/**
 * Whether a database error is worth retrying with backoff: a transient SQLSTATE, a socket that
 * could not connect or was cut, pg's own timeouts and lost connections, or an error that says
 * so itself (`transient: true`, e.g. a connection budget that stayed exhausted past its wait).
 */
export function isTransientDatabaseError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, transient, message } = error as { code?: unknown; transient?: unknown; message?: unknown };
  if (transient === true) return true;
  if (typeof code === 'string') {
    if (/^[0-9A-Z]{5}$/.test(code)) return isTransientSqlState(code);
    if (transientSocketCodes.has(code)) return true;
  }
  if (typeof message !== 'string') return false;
  // pg raises these as plain Errors without a code.
  return (
    message.includes('timeout exceeded when trying to connect') ||
    message.includes('Connection terminated') ||
    message.includes('Client has encountered a connection error')
  );
}

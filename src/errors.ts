// What a failed operation means for whoever would try it again: the one table of error classes, read by every
// retry in the daemon (transactions, worker connections, rule-service calls, request attempts), as
// graphile-worker keeps its own single table of retryable errors.

/**
 * - `conflict`: the transaction rolled back whole (deadlock, serialization failure): running it again is safe
 *   and soon succeeds.
 * - `unavailable`: the server or the network is not there right now (restart, failover, a cut): try again later.
 * - `refused`: the same input fails the same way on every attempt: the state machine's documented refusals
 *   (TL4xx) and PostgreSQL's data exceptions (class 22: a value it cannot store or read).
 * - `other`: anything else, a bug or an unknown fault: retried with backoff where a job has attempts left.
 */
export type ErrorClass = "conflict" | "unavailable" | "refused" | "other";

/** SQLSTATEs by class; a two-character entry is a whole SQLSTATE class. */
const SQLSTATES: Record<string, ErrorClass> = {
  "40001": "conflict", // serialization_failure
  "40P01": "conflict", // deadlock_detected
  "08": "unavailable", // connection exception
  "57P01": "unavailable", // admin_shutdown
  "57P02": "unavailable", // crash_shutdown
  "57P03": "unavailable", // cannot_connect_now (starting up, shutting down)
  "53300": "unavailable", // too_many_connections
  TL4: "refused", // the state machine's refusals (TL400, TL403, TL404, TL409, TL422, ...)
  "22": "refused", // data exception
};

/** Node's and undici's codes for a network that is not there, each with the words an error text uses. */
const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "name lookup failed",
  EPIPE: "connection closed while writing",
  UND_ERR_SOCKET: "connection closed",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_CLOSED: "connection closed",
};

const codeOf = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
};

/** The network code of `error` or of its cause (fetch wraps it: TypeError "fetch failed" { cause }). */
function networkCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = codeOf(e);
    if (code && code in NETWORK_CODES) return code;
  }
  return undefined;
}

export function classifyError(error: unknown): ErrorClass {
  const code = codeOf(error);
  if (code !== undefined) {
    const match = SQLSTATES[code] ?? SQLSTATES[code.slice(0, 3)] ?? SQLSTATES[code.slice(0, 2)];
    if (match) return match;
  }
  if (networkCode(error) !== undefined) return "unavailable";
  // node-postgres's own words for a connection that ended under it.
  if (error instanceof Error && /Connection terminated|is not queryable/i.test(error.message)) return "unavailable";
  return "other";
}

/**
 * The words for a network failure without its address: Node's texts name host and port ("connect
 * ECONNREFUSED 10.0.0.7:8443"), and error texts are stored in request rows, outbox rows and alerts, where a
 * service's address (which may carry a token) must never go.
 */
export function describeNetworkError(error: unknown): string {
  const code = networkCode(error);
  if (code) return `${NETWORK_CODES[code]} (${code})`;
  const fallback = codeOf(error) ?? (error instanceof Error ? error.name : undefined);
  return fallback ? `network error (${fallback})` : "network error";
}

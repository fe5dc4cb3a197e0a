import type { RequestKind } from "../adapters/ruleService.ts";
import type { Queryable } from "./queryable.ts";

export interface Claim {
  outcome: "claimed" | "finished" | "busy" | "mismatch";
  status: string;
  attempts: number;
  meta: Record<string, unknown>;
  /** Decimal string; null when the ticket is unknown. */
  orderId: string | null;
  /** The lease's proof, required to release, fail or decide the request; null unless claimed. */
  leaseToken: string | null;
}

/** Records the request if a raw job brought it first, then leases it to this worker (sql/4-…). */
export async function claimRequest(
  db: Queryable,
  request: { kind: RequestKind; ticketId: string; eventId: string; meta: Record<string, unknown> },
  leaseSeconds: number,
): Promise<Claim> {
  const { rows } = await db.query<{
    outcome: Claim["outcome"];
    status: string;
    attempts: number;
    meta: Record<string, unknown>;
    order_id: string | null;
    lease_token: string | null;
  }>(
    `select c.outcome, c.status, c.attempts, c.meta, c.lease_token, t.order_id
       from ticketing.claim_request($1, $2, $3, $4, make_interval(secs => $5)) c
       left join ticketing.tickets t on t.id = $2`,
    [request.kind, request.ticketId, request.eventId, request.meta, leaseSeconds],
  );
  const row = rows[0];
  if (!row) throw new Error(`claim_request returned no row for ${request.eventId}`);
  return {
    outcome: row.outcome,
    status: row.status,
    attempts: row.attempts,
    meta: row.meta,
    orderId: row.order_id,
    leaseToken: row.lease_token,
  };
}

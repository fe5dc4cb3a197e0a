import { z } from "zod";
import type { TicketRequest } from "../requests/ticketRequest.ts";
import type { Queryable } from "./queryable.ts";
import { CLAIM_OUTCOMES, type ClaimOutcome } from "./requestOutcomes.ts";

const outcome = z.enum(CLAIM_OUTCOMES);

interface ClaimedRow {
  status: string;
  attempts: number;
  meta: Record<string, unknown>;
  /** Decimal string; null when the ticket is unknown. */
  orderId: string | null;
}

export type Claim =
  /** `leaseToken`: the lease's proof, required to release, fail or decide the request. */
  | (ClaimedRow & { outcome: "claimed"; leaseToken: string })
  | (ClaimedRow & { outcome: Exclude<ClaimOutcome, "claimed">; leaseToken: null });

/**
 * Records the request if a raw job brought it first (failed at once when its input breaks a limit), then
 * leases it to this worker (ticketing.claim_request).
 */
export async function claimRequest(db: Queryable, request: TicketRequest, leaseSeconds: number): Promise<Claim> {
  const { rows } = await db.query<{
    outcome: string;
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
  const fields = { status: row.status, attempts: row.attempts, meta: row.meta, orderId: row.order_id };
  const answer = outcome.parse(row.outcome);
  if (answer !== "claimed") return { ...fields, outcome: answer, leaseToken: null };
  if (row.lease_token === null) throw new Error(`claim_request claimed ${request.eventId} without a lease token`);
  return { ...fields, outcome: answer, leaseToken: row.lease_token };
}

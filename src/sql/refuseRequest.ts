import { z } from "zod";
import type { Queryable } from "./queryable.ts";
import { REFUSE_OUTCOMES, type RefuseOutcome } from "./requestOutcomes.ts";

const outcome = z.enum(REFUSE_OUTCOMES);

/**
 * A refusal by the kind's rule service or by the database: the request fails, with an alert where its kind's
 * alert_on_refusal says so (ticketing.refuse_request). `not_held`: the lease is no longer the caller's.
 */
export async function refuseRequest(
  db: Queryable,
  eventId: string,
  leaseToken: string,
  reason: string,
): Promise<RefuseOutcome> {
  const { rows } = await db.query<{ outcome: string }>("select ticketing.refuse_request($1, $2, $3) as outcome", [
    eventId,
    leaseToken,
    reason,
  ]);
  return outcome.parse(rows[0]?.outcome ?? "not_held");
}

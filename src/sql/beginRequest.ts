import { z } from "zod";
import type { Queryable } from "./queryable.ts";
import { BEGIN_OUTCOMES, type BeginOutcome } from "./requestOutcomes.ts";

const outcome = z.enum(BEGIN_OUTCOMES);

/**
 * The receipt step of a kind with an in-flight status (change: usable -> changing), for the lease holder
 * (ticketing.begin_request); `none` for a kind without one.
 */
export async function beginRequest(db: Queryable, eventId: string, leaseToken: string): Promise<BeginOutcome> {
  const { rows } = await db.query<{ outcome: string }>("select ticketing.begin_request($1, $2) as outcome", [
    eventId,
    leaseToken,
  ]);
  return outcome.parse(rows[0]?.outcome ?? "finished");
}

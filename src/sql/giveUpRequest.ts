import { z } from "zod";
import type { TicketRequest } from "../requests/ticketRequest.ts";
import type { Queryable } from "./queryable.ts";
import { GIVE_UP_OUTCOMES, type GiveUpOutcome } from "./requestOutcomes.ts";

const outcome = z.enum(GIVE_UP_OUTCOMES);

/**
 * The job's last attempt met a transient fault: the request is failed with an alert, in a statement of its
 * own (recorded first if the job brought it) (ticketing.give_up_request).
 */
export async function giveUpRequest(db: Queryable, request: TicketRequest, reason: string): Promise<GiveUpOutcome> {
  const { rows } = await db.query<{ outcome: string }>(
    "select ticketing.give_up_request($1, $2, $3, $4, $5) as outcome",
    [request.kind, request.ticketId, request.eventId, request.meta, reason],
  );
  return outcome.parse(rows[0]?.outcome ?? "finished");
}

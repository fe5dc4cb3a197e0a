import type { RequestKind } from "../adapters/ruleService.ts";
import type { Queryable } from "./queryable.ts";

/**
 * The job's last attempt met a transient fault: the request is failed with an alert, in a statement of its
 * own (recorded first if the job brought it): failed / finished / busy / mismatch.
 */
export async function giveUpRequest(
  db: Queryable,
  request: { kind: RequestKind; ticketId: string; eventId: string; meta: Record<string, unknown> },
  reason: string,
): Promise<"failed" | "finished" | "busy" | "mismatch"> {
  const { rows } = await db.query<{ outcome: "failed" | "finished" | "busy" | "mismatch" }>(
    "select ticketing.give_up_request($1, $2, $3, $4, $5) as outcome",
    [request.kind, request.ticketId, request.eventId, request.meta, reason],
  );
  return rows[0]?.outcome ?? "finished";
}

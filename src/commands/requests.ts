// `requests retry`: failed refund/change requests back to pending, their jobs queued again.
import { z } from "zod";
import { retryFailedRequests } from "../sql/retryFailedRequests.ts";
import type { CommandContext } from "./commandContext.ts";
import { decimalId } from "./decimalId.ts";
import { iso, oneLine, printAction } from "./output.ts";
import { parseOptions } from "./parseOptions.ts";
import { withDatabase } from "./withDatabase.ts";

const filterSchema = z.object({
  "event-id": z.string().min(1).optional(),
  ticket: decimalId.optional(),
  order: decimalId.optional(),
  "failed-since": z.string().min(1).optional(),
  "failed-until": z.string().min(1).optional(),
});

export async function requestsRetryCommand(ctx: CommandContext): Promise<number> {
  const filter = parseOptions(filterSchema, ctx.options);
  const rows = await withDatabase(ctx, (pool) =>
    retryFailedRequests(
      pool,
      {
        eventId: filter["event-id"],
        ticketId: filter.ticket,
        orderId: filter.order,
        failedSince: filter["failed-since"],
        failedUntil: filter["failed-until"],
      },
      ctx.dryRun,
    ),
  );
  printAction({
    dryRun: ctx.dryRun,
    json: ctx.json,
    verb: "retry",
    past: "retried",
    noun: "failed request(s)",
    rows,
    columns: [
      ["event_id", (r) => r.event_id],
      ["kind", (r) => r.kind],
      ["ticket_id", (r) => r.ticket_id],
      ["failed_at", (r) => iso(r.failed_at)],
      ["error", (r) => oneLine(r.error)],
    ],
  });
  return 0;
}

// `events replay`: delivered events sent again with their original ids; --wait follows the redelivery.

import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { knobs } from "../config/knobs.ts";
import { replayEvents } from "../sql/replayEvents.ts";
import { undeliveredCount } from "../sql/undeliveredCount.ts";
import type { CommandContext } from "./commandContext.ts";
import { decimalId } from "./decimalId.ts";
import { iso, printAction } from "./output.ts";
import { parseOptions } from "./parseOptions.ts";
import { withDatabase } from "./withDatabase.ts";

const filterSchema = z.object({
  ticket: decimalId.optional(),
  order: decimalId.optional(),
  type: z.string().min(1).optional(),
  since: z.string().min(1).optional(),
  until: z.string().min(1).optional(),
});

const { pollMs: POLL_MS, progressEveryMs: PROGRESS_EVERY_MS } = knobs.replayWait;

export async function eventsReplayCommand(ctx: CommandContext): Promise<number> {
  const filter = parseOptions(filterSchema, ctx.options);
  await withDatabase(ctx, async (pool) => {
    const rows = await replayEvents(
      pool,
      { ticketId: filter.ticket, orderId: filter.order, type: filter.type, since: filter.since, until: filter.until },
      ctx.dryRun,
    );
    printAction({
      dryRun: ctx.dryRun,
      json: ctx.json,
      verb: "replay",
      past: "replayed",
      noun: "delivered event(s)",
      rows,
      columns: [
        ["id", (e) => e.id],
        ["event_id", (e) => e.event_id],
        ["type", (e) => e.type],
        ["ticket_id", (e) => e.ticket_id],
        ["order_id", (e) => e.order_id],
        ["created_at", (e) => iso(e.created_at)],
      ],
    });
    if (ctx.dryRun || !ctx.options.wait || rows.length === 0) return;
    const ids = rows.map((e) => e.id);
    process.stderr.write(`waiting for a running daemon to deliver ${ids.length} event(s) (Ctrl-C stops waiting)\n`);
    let lastLine = 0;
    for (;;) {
      const left = await undeliveredCount(pool, ids);
      if (left === 0 || Date.now() - lastLine >= PROGRESS_EVERY_MS) {
        process.stderr.write(`replay: ${ids.length - left}/${ids.length} delivered\n`);
        lastLine = Date.now();
      }
      if (left === 0) break;
      await sleep(POLL_MS);
    }
  });
  return 0;
}

// `ticket-lifecycle status [--json]`: the operator's summary (src/sql/readStatus.ts), as a table or as JSON.

import { checkSchema } from "../db/checkSchema.ts";
import { openDatabase } from "../db/openDatabase.ts";
import { readStatus, type StatusReport } from "../sql/readStatus.ts";
import type { CommandContext } from "./commandContext.ts";
import { age, table } from "./output.ts";

function keyValues(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`).join("\n");
}

function formatStatus(report: StatusReport): string {
  const { outbox } = report;
  const jobs = Object.entries(report.jobs);
  const sections = [
    ["tickets", table(["status", "count"], Object.entries(report.tickets))],
    ["orders", table(["status", "count"], Object.entries(report.orders))],
    [
      "jobs",
      jobs.length
        ? table(
            ["task", "waiting", "scheduled", "running", "failed"],
            jobs.map(([task, j]) => [task, j.waiting, j.scheduled, j.running, j.failed]),
          )
        : "  none",
    ],
    [
      "outbox",
      keyValues([
        ["undelivered (backlog)", String(outbox.backlog)],
        ["  of which retrying", String(outbox.retrying)],
        [
          "oldest undelivered",
          outbox.oldest_undelivered_at
            ? `${outbox.oldest_undelivered_at} (${age(outbox.oldest_undelivered_age_seconds ?? 0)} ago)`
            : "-",
        ],
        ["delivered, kept", String(outbox.delivered)],
      ]),
    ],
    [
      "requests",
      table(
        ["kind", "pending", "succeeded", "failed"],
        Object.entries(report.requests).map(([kind, s]) => [kind, s.pending ?? 0, s.succeeded ?? 0, s.failed ?? 0]),
      ),
    ],
    [
      "quarantined tickets",
      report.quarantined.length
        ? table(
            ["ticket", "order", "attempts", "next_attempt", "error"],
            report.quarantined.map((q) => [q.ticket_id, q.order_id, q.attempts, q.next_attempt_at, q.error]),
          )
        : "  none",
    ],
    [
      "active alerts",
      report.alerts.length
        ? table(
            ["raised_at", "kind", "key", "message"],
            report.alerts.map((a) => [a.raised_at, a.kind, a.key, a.message]),
          )
        : "  none",
    ],
  ];
  return sections.map(([title, body]) => `${title}\n${body}`).join("\n\n");
}

export async function statusCommand({ env, log, json }: CommandContext): Promise<number> {
  const db = await openDatabase(env, log, 2);
  try {
    await checkSchema(db.pool);
    const report = await readStatus(db.pool);
    console.log(json ? JSON.stringify(report, null, 2) : formatStatus(report));
    return 0;
  } finally {
    await db.close();
  }
}

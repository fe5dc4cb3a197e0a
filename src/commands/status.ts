// `ticket-lifecycle status [--json]`: the operator's summary, read from the ticketing.status_* views
// (sql/6-operator-views.sql) in one snapshot, so the sections agree with each other.
import type pg from "pg";
import { openDatabase } from "../db/database.ts";
import { checkSchema } from "../db/schemaState.ts";
import { age, table } from "./format.ts";
import type { CommandContext } from "./index.ts";

export interface JobCounts {
  waiting: number;
  scheduled: number;
  running: number;
  failed: number;
}

export interface StatusReport {
  tickets: Record<string, number>;
  orders: Record<string, number>;
  jobs: Record<string, JobCounts>;
  outbox: {
    backlog: number;
    retrying: number;
    oldest_undelivered_at: string | null;
    oldest_undelivered_age_seconds: number | null;
    delivered: number;
  };
  requests: Record<string, Record<string, number>>;
  alerts: Array<{ id: number; key: string; kind: string; message: string; details: unknown; raised_at: string }>;
  /** Tickets the expiry sweep set aside (ids as decimal strings: they may exceed 2^53). */
  quarantined: Array<{
    ticket_id: string;
    order_id: string;
    attempts: number;
    error: string;
    next_attempt_at: string;
  }>;
}

type Count = string | number;
const byStatus = (rows: Array<{ status: string; count: Count }>) =>
  Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));

/** Reads every section in one read-only REPEATABLE READ transaction. */
export async function readStatus(pool: pg.Pool): Promise<StatusReport> {
  const client = await pool.connect();
  try {
    await client.query("begin isolation level repeatable read read only");
    const tickets = await client.query<{ status: string; count: Count }>(
      `select v.status, v.count from ticketing.status_tickets v join ticketing.ticket_statuses s using (status)
        order by s.terminal, v.status`,
    );
    const orders = await client.query<{ status: string; count: Count }>(
      "select status, count from ticketing.status_orders order by array_position(array['open', 'completed', 'cancelled'], status)",
    );
    const jobs = await client.query<{ task: string; waiting: Count; scheduled: Count; running: Count; failed: Count }>(
      "select task, waiting, scheduled, running, failed from ticketing.status_jobs order by task",
    );
    const outbox = await client.query<{
      backlog: Count;
      retrying: Count;
      oldest_undelivered_at: Date | null;
      oldest_age: number | null;
      delivered: Count;
    }>(
      `select backlog, retrying, oldest_undelivered_at, delivered,
              extract(epoch from now() - oldest_undelivered_at)::float8 as oldest_age
         from ticketing.status_outbox`,
    );
    const requests = await client.query<{ kind: string; status: string; count: Count }>(
      `select kind, status, count from ticketing.status_requests
        order by array_position(array['refund', 'change'], kind), array_position(array['pending', 'succeeded', 'failed'], status)`,
    );
    const alerts = await client.query<{
      id: Count;
      key: string;
      kind: string;
      message: string;
      details: unknown;
      raised_at: Date;
    }>("select id, key, kind, message, details, raised_at from ticketing.active_alerts order by raised_at, id");
    const quarantined = await client.query<{
      ticket_id: string;
      order_id: string;
      attempts: number;
      error: string;
      next_attempt_at: Date;
    }>(
      `select ticket_id::text, order_id::text, attempts, error, next_attempt_at
         from ticketing.status_quarantine order by next_attempt_at, ticket_id`,
    );
    await client.query("commit");

    const box = outbox.rows[0];
    const requestsByKind: Record<string, Record<string, number>> = {};
    for (const r of requests.rows) requestsByKind[r.kind] = { ...requestsByKind[r.kind], [r.status]: Number(r.count) };
    return {
      tickets: byStatus(tickets.rows),
      orders: byStatus(orders.rows),
      jobs: Object.fromEntries(
        jobs.rows.map((j) => [
          j.task,
          {
            waiting: Number(j.waiting),
            scheduled: Number(j.scheduled),
            running: Number(j.running),
            failed: Number(j.failed),
          },
        ]),
      ),
      outbox: {
        backlog: Number(box?.backlog ?? 0),
        retrying: Number(box?.retrying ?? 0),
        oldest_undelivered_at: box?.oldest_undelivered_at?.toISOString() ?? null,
        oldest_undelivered_age_seconds: box?.oldest_age == null ? null : Math.max(0, Math.round(box.oldest_age)),
        delivered: Number(box?.delivered ?? 0),
      },
      requests: requestsByKind,
      alerts: alerts.rows.map((a) => ({
        id: Number(a.id),
        key: a.key,
        kind: a.kind,
        message: a.message,
        details: a.details,
        raised_at: a.raised_at.toISOString(),
      })),
      quarantined: quarantined.rows.map((q) => ({ ...q, next_attempt_at: q.next_attempt_at.toISOString() })),
    };
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

function keyValues(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `  ${key.padEnd(width)}  ${value}`).join("\n");
}

export function formatStatus(report: StatusReport): string {
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

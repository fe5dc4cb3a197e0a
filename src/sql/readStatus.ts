// The operator's summary (`ticket-lifecycle status`), read from the ticketing.status_* views
// (sql/6-operator-views.sql) and ticketing.active_alerts in one snapshot, so the sections agree with each other.
import type pg from "pg";
import { activeAlerts } from "./activeAlerts.ts";
import { type JobCounts, jobCountsByTask } from "./jobCountsByTask.ts";

/** The order statuses in ticketing.order_statuses' order: open first, then how orders end. */
const ORDER_STATUS_ORDER = "position";
/** Request kinds in ticketing.request_kinds' order (one given no position after, by name), then each kind's
 * statuses in ticketing.request_statuses' order, from pending to how requests end. */
const REQUEST_ORDER = "kind_position nulls last, kind, status_position";

export interface StatusReport {
  tickets: Record<string, number>;
  orders: Record<string, number>;
  jobs: Record<string, Omit<JobCounts, "task">>;
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
      `select status, count from ticketing.status_orders order by ${ORDER_STATUS_ORDER}`,
    );
    const jobs = await jobCountsByTask(client);
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
      `select kind, status, count from ticketing.status_requests order by ${REQUEST_ORDER}`,
    );
    const alerts = await activeAlerts(client);
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
      jobs: Object.fromEntries(jobs.map(({ task, ...counts }) => [task, counts])),
      outbox: {
        backlog: Number(box?.backlog ?? 0),
        retrying: Number(box?.retrying ?? 0),
        oldest_undelivered_at: box?.oldest_undelivered_at?.toISOString() ?? null,
        oldest_undelivered_age_seconds: box?.oldest_age == null ? null : Math.max(0, Math.round(box.oldest_age)),
        delivered: Number(box?.delivered ?? 0),
      },
      requests: requestsByKind,
      alerts: alerts.map((a) => ({
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

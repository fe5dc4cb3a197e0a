import type { Queryable } from "../../src/sql/queryable.ts";

let nextId = 1;
/** Ids unique within a test file, so tests in one file never see each other's rows. */
export const freshId = () => nextId++;

/** An order with `count` usable tickets; validEnd defaults to tomorrow. Returns the ids. */
export async function createOrder(db: Queryable, count: number, validEnd = "now() + interval '1 day'") {
  const orderId = freshId();
  await db.query("insert into ticketing.orders (id) values ($1)", [orderId]);
  const ticketIds = Array.from({ length: count }, freshId);
  await db.query(
    `insert into ticketing.tickets (id, order_id, valid_end) select id, $1, ${validEnd} from unnest($2::bigint[]) id`,
    [orderId, ticketIds],
  );
  return { orderId, ticketIds };
}

/** Brings a ticket to `status` through the state machine (the only way there is). */
export async function driveTo(db: Queryable, ticketId: number, status: string): Promise<void> {
  const paths: Record<string, string[]> = {
    usable: [],
    used: ["used"],
    refunded: ["refunded"],
    expired: ["expired"],
    changing: ["changing"],
    changed: ["changing", "changed"],
  };
  const steps = paths[status];
  if (!steps) throw new Error(`no path to ${status}`);
  for (const [i, step] of steps.entries()) {
    await db.query("select ticketing.transition_ticket($1, $2, $3)", [ticketId, step, `setup-${ticketId}-${i}`]);
  }
}

export async function counts(db: Queryable, ticketId: number) {
  const { rows } = await db.query<{ audit: string; outbox: string; jobs: string; status: string; seq: string }>(
    `select (select count(*) from ticketing.ticket_status_audit where ticket_id = $1) as audit,
            (select count(*) from ticketing.outbox where ticket_id = $1) as outbox,
            (select count(*) from graphile_worker.jobs) as jobs,
            t.status, t.seq
       from ticketing.tickets t where t.id = $1`,
    [ticketId],
  );
  const row = rows[0];
  if (!row) throw new Error(`no ticket ${ticketId}`);
  return {
    audit: Number(row.audit),
    outbox: Number(row.outbox),
    jobs: Number(row.jobs),
    status: row.status,
    seq: Number(row.seq),
  };
}

/** graphile-worker's jobs with their payloads (its public `jobs` view leaves the payload out), through the boundary. */
export const JOBS_SQL = `select j.task as task_identifier, j.payload, j.run_at, j.key, j.attempts, j.max_attempts, j.last_error, j.locked_by
  from ticketing.worker_jobs j join ticketing.worker_tasks t on t.identifier = j.task`;

/** The SQLSTATE `query` fails with, or "ok". */
export const sqlState = (query: Promise<unknown>) =>
  query.then(
    () => "ok",
    (error: { code?: string }) => error.code,
  );

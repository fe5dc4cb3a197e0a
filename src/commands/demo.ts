// `ticket-lifecycle demo`: a small realistic data set for a newcomer. With the daemon running, within a
// minute: the queued sweep expires the tickets past valid_end (completing the orders whose other
// tickets were redeemed), the refund and the change go through, and every event is delivered.
import type pg from "pg";
import { openDatabase } from "../db/database.ts";
import { migrateIfOwner } from "../db/schemaState.ts";
import { queueSweep } from "../sql/queueSweep.ts";
import type { CommandContext } from "./index.ts";

/** Orders of three tickets each: how many tickets are past valid_end, redeemed, refunded, changed. */
const GROUPS = [
  { orders: 5, past: 0, redeemed: 0, refund: 0, change: 0 }, // nothing due: stay open
  { orders: 5, past: 3, redeemed: 0, refund: 0, change: 0 }, // all expire: completed
  { orders: 6, past: 1, redeemed: 2, refund: 0, change: 0 }, // the expiry of the last one completes them
  { orders: 2, past: 1, redeemed: 0, refund: 0, change: 0 }, // one expires, two still valid: stay open
  { orders: 1, past: 0, redeemed: 2, refund: 1, change: 0 }, // the refund completes it
  { orders: 1, past: 0, redeemed: 0, refund: 0, change: 1 }, // changed and re-issued with a new valid_end
] as const;
const TICKETS_PER_ORDER = 3;

export interface DemoSummary {
  orderIds: number[];
  ticketIds: number[];
  pastValidEnd: number;
  redeemed: number;
  refunds: number;
  changes: number;
  sweepJobId: string;
}

/** Seeds everything in one transaction, with ids above any already used, and queues a sweep now. */
export async function seedDemo(pool: pg.Pool): Promise<DemoSummary> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const { rows } = await client.query<{ order_base: string; ticket_base: string }>(
      `select (select coalesce(max(id), 0) from ticketing.orders) as order_base,
              (select coalesce(max(id), 0) from ticketing.tickets) as ticket_base`,
    );
    let orderId = Number(rows[0]?.order_base);
    let ticketId = Number(rows[0]?.ticket_base);
    const orders: number[] = [];
    const tickets: Array<{ id: number; orderId: number; validEnd: string }> = [];
    const redeem: number[] = [];
    const refund: number[] = [];
    const change: number[] = [];
    let past = 0;
    for (const group of GROUPS) {
      for (let o = 0; o < group.orders; o++) {
        orderId += 1;
        orders.push(orderId);
        for (let t = 0; t < TICKETS_PER_ORDER; t++) {
          ticketId += 1;
          const isPast = t < group.past;
          // Past tickets ended between one and 48 hours ago; the others are valid for days to come.
          const validEnd = isPast ? `-${1 + ((ticketId * 7) % 48)} hours` : `${1 + ((ticketId * 5) % 30)} days`;
          tickets.push({ id: ticketId, orderId, validEnd });
          if (isPast) past += 1;
          else if (t < group.past + group.redeemed) redeem.push(ticketId);
          else if (t < group.past + group.redeemed + group.refund) refund.push(ticketId);
          else if (t < group.past + group.redeemed + group.refund + group.change) change.push(ticketId);
        }
      }
    }
    await client.query("insert into ticketing.orders (id) select unnest($1::bigint[])", [orders]);
    await client.query(
      `insert into ticketing.tickets (id, order_id, valid_end)
       select id, order_id, now() + valid_in::interval from unnest($1::bigint[], $2::bigint[], $3::text[]) as t(id, order_id, valid_in)`,
      [tickets.map((t) => t.id), tickets.map((t) => t.orderId), tickets.map((t) => t.validEnd)],
    );
    // Through the same SQL API other services use: redemptions at the gate, a refund, a change.
    await client.query(
      `select ticketing.redeem_ticket(id, 'demo-redeem-' || id, '{"gate": "north-1"}') from unnest($1::bigint[]) as id`,
      [redeem],
    );
    await client.query(
      `select ticketing.request_refund(id, 'demo-refund-' || id, '{"reason": "customer request"}') from unnest($1::bigint[]) as id`,
      [refund],
    );
    await client.query(
      `select ticketing.request_change(id, 'demo-change-' || id, jsonb_build_object('valid_end', now() + interval '45 days', 'reason', 'new date'))
         from unnest($1::bigint[]) as id`,
      [change],
    );
    // The same job the schedule adds every five minutes, due now.
    const sweepJobId = await queueSweep(client);
    await client.query("commit");
    return {
      orderIds: orders,
      ticketIds: tickets.map((t) => t.id),
      pastValidEnd: past,
      redeemed: redeem.length,
      refunds: refund.length,
      changes: change.length,
      sweepJobId,
    };
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

const range = (ids: number[]) => `${ids[0]}–${ids[ids.length - 1]}`;

export async function demoCommand({ env, log }: CommandContext): Promise<number> {
  const db = await openDatabase(env, log, 2);
  try {
    await migrateIfOwner(db.pool, db.connectionString, log);
    const demo = await seedDemo(db.pool);
    console.log(
      [
        `demo data seeded: ${demo.orderIds.length} orders (ids ${range(demo.orderIds)}), ${demo.ticketIds.length} tickets (ids ${range(demo.ticketIds)})`,
        `  ${demo.pastValidEnd} tickets already past valid_end: the expiry sweep queued now (job ${demo.sweepJobId}) expires them`,
        `  ${demo.redeemed} tickets redeemed at the gate; orders whose last ticket expires or is refunded complete`,
        `  ${demo.refunds} refund request and ${demo.changes} change request (with a new valid_end) queued`,
        "with the daemon running (npm start) this all happens within a minute; watch it with: ticket-lifecycle status",
      ].join("\n"),
    );
    return 0;
  } finally {
    await db.close();
  }
}

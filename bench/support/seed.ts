// Benchmark data, built set-based in one transaction each.
import type pg from "pg";

/**
 * `tickets` usable tickets, 4 per order, every one past valid_end. All tickets of an order share a
 * valid_end (one event); orders' valid_ends are spread at random over the last day, so a sweep in
 * valid_end order touches the table and its orders in no particular physical order, as in production.
 */
export async function seedExpiredBacklog(pool: pg.Pool, tickets: number, firstId = 1): Promise<void> {
  const orders = Math.ceil(tickets / 4);
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query("select setseed(0.42)");
    await client.query(
      `insert into ticketing.orders (id, created_at)
       select $1::bigint + g, now() - interval '3 days' from generate_series(0, $2::bigint - 1) g`,
      [firstId, orders],
    );
    await client.query(
      `insert into ticketing.tickets (id, order_id, valid_end, created_at)
       select $1::bigint + g * 4 + k, $1::bigint + g, o.valid_end, now() - interval '3 days'
         from (select g, now() - interval '1 day' * (1 + random()) as valid_end
                 from generate_series(0, $2::bigint - 1) g) o
        cross join generate_series(0, 3) k
        where g * 4 + k < $3`,
      [firstId, orders, tickets],
    );
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
  await pool.query("vacuum analyze ticketing.orders, ticketing.tickets");
}

/** `tickets` usable tickets valid until tomorrow, 4 per order: the targets of refund requests. */
export async function seedUsableTickets(pool: pg.Pool, tickets: number, firstId = 1): Promise<void> {
  const orders = Math.ceil(tickets / 4);
  await pool.query(
    `with o as (
       insert into ticketing.orders (id) select $1::bigint + g from generate_series(0, $2::bigint - 1) g returning id
     )
     insert into ticketing.tickets (id, order_id, valid_end)
     select $1::bigint + (o.id - $1::bigint) * 4 + k, o.id, now() + interval '1 day'
       from o cross join generate_series(0, 3) k
      where (o.id - $1::bigint) * 4 + k < $3`,
    [firstId, orders, tickets],
  );
  await pool.query("vacuum analyze ticketing.orders, ticketing.tickets");
}

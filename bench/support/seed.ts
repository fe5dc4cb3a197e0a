// Benchmark data, built set-based in one transaction each.
import type pg from "pg";

/**
 * Runs `work` in one transaction, then vacuums and analyses the tables. As a superuser (the embedded
 * server's user) the per-row foreign-key and guard triggers are skipped for the load: the rows are
 * consistent by construction (orders first, tickets usable with seq 0), and the load is much faster
 * (docs/performance.md).
 */
async function bulkLoad(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const { rows } = await client.query<{ superuser: boolean }>(
      "select current_setting('is_superuser') = 'on' as superuser",
    );
    if (rows[0]?.superuser) await client.query("set local session_replication_role = replica");
    await work(client);
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  } finally {
    client.release();
  }
  await pool.query("vacuum analyze ticketing.orders, ticketing.tickets");
}

/**
 * `tickets` usable tickets, 4 per order, every one past valid_end. All tickets of an order share a
 * valid_end (one event); orders' valid_ends are spread at random over a day, so a sweep in valid_end
 * order touches the table and its orders in no particular physical order, as in production.
 */
export function seedExpiredBacklog(pool: pg.Pool, tickets: number): Promise<void> {
  const orders = Math.ceil(tickets / 4);
  return bulkLoad(pool, async (client) => {
    await client.query("select setseed(0.42)");
    await client.query(
      "insert into ticketing.orders (id, created_at) select g, now() - interval '3 days' from generate_series(1, $1::bigint) g",
      [orders],
    );
    await client.query(
      `insert into ticketing.tickets (id, order_id, valid_end, created_at)
       select (o.id - 1) * 4 + k + 1, o.id, o.valid_end, now() - interval '3 days'
         from (select g as id, now() - interval '1 day' * (1 + random()) as valid_end from generate_series(1, $1::bigint) g) o
        cross join generate_series(0, 3) k
        where (o.id - 1) * 4 + k < $2`,
      [orders, tickets],
    );
  });
}

/** `tickets` usable tickets valid until tomorrow, 4 per order (ids 1..tickets): refund request targets. */
export function seedUsableTickets(pool: pg.Pool, tickets: number): Promise<void> {
  const orders = Math.ceil(tickets / 4);
  return bulkLoad(pool, async (client) => {
    await client.query("insert into ticketing.orders (id) select g from generate_series(1, $1::bigint) g", [orders]);
    await client.query(
      `insert into ticketing.tickets (id, order_id, valid_end)
       select g, (g - 1) / 4 + 1, now() + interval '1 day' from generate_series(1, $1::bigint) g`,
      [tickets],
    );
  });
}

import type pg from "pg";

/**
 * Runs `sql` as the internal role that owns the state machine (ticketing_engine), for tests that must plant a
 * row no API would write. Where that role does not exist yet, it runs as the connecting user.
 */
export async function asEngine(pool: pg.Pool, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query(
      "select set_config('role', 'ticketing_engine', true) where exists (select 1 from pg_roles where rolname = 'ticketing_engine')",
    );
    const result = await client.query(sql, params);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

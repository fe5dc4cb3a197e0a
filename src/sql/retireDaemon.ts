import type { Queryable } from "./queryable.ts";

/** Declares a daemon gone (ticketing.retire_daemon): the next rescue frees whatever it still holds. */
export async function retireDaemon(db: Queryable, daemonId: string): Promise<void> {
  await db.query("select ticketing.retire_daemon($1)", [daemonId]);
}

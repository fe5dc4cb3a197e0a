// `ticket-lifecycle demo`: a small realistic data set for a newcomer (ticketing.seed_demo, migration 19). With
// the daemon running, within a minute: the queued sweep expires the tickets past valid_end (completing the
// orders whose other tickets were redeemed), the refund and the change go through, and every event is delivered.
import type pg from "pg";
import { migrateIfOwner } from "../db/migrateIfOwner.ts";
import { openDatabase } from "../db/openDatabase.ts";
import { inTransaction } from "../sql/inTransaction.ts";
import { queueSweep } from "../sql/queueSweep.ts";
import { type DemoSeed, seedDemo } from "../sql/seedDemo.ts";
import type { CommandContext } from "./commandContext.ts";

/** Seeds everything and queues a sweep due now, in one transaction. */
async function seedAndSweep(pool: pg.Pool): Promise<DemoSeed & { sweepJobId: string }> {
  const client = await pool.connect();
  try {
    return await inTransaction(client, async () => {
      const seed = await seedDemo(client);
      // The same job the schedule adds every five minutes, due now.
      const sweepJobId = await queueSweep(client);
      return { ...seed, sweepJobId };
    });
  } finally {
    client.release();
  }
}

const range = (ids: string[]) => `${ids[0]}–${ids[ids.length - 1]}`;

export async function demoCommand({ env, log }: CommandContext): Promise<number> {
  const db = await openDatabase(env, log, 2);
  try {
    await migrateIfOwner(db.pool, db.connectionString, log);
    const demo = await seedAndSweep(db.pool);
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

import { checkSchema } from "../db/checkSchema.ts";
import { migrateIfOwner } from "../db/migrateIfOwner.ts";
import { openDatabase } from "../db/openDatabase.ts";
import { expiryBacklog } from "../sql/expiryBacklog.ts";
import { queueSweep } from "../sql/queueSweep.ts";
import type { CommandContext } from "./commandContext.ts";

/**
 * --dry-run: how many tickets a sweep would expire now, writing nothing (never migrates: a login in
 * ticketing_reader runs it); otherwise queue a sweep now.
 */
export async function expireCommand({ env, log, dryRun }: CommandContext): Promise<number> {
  const db = await openDatabase(env, log, 2);
  try {
    if (dryRun) {
      await checkSchema(db.pool);
      const { tickets, oldestValidEnd } = await expiryBacklog(db.pool, env.EXPIRE_GRACE_SECONDS);
      console.log(
        `${tickets} ticket(s) would expire now; oldest valid_end: ${oldestValidEnd ? oldestValidEnd.toISOString() : "-"}`,
      );
      return 0;
    }
    await migrateIfOwner(db.pool, db.connectionString, log);
    console.log(`expiry sweep queued as job ${await queueSweep(db.pool)}`);
    return 0;
  } finally {
    await db.close();
  }
}

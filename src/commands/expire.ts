import { openDatabase } from "../db/database.ts";
import { migrate } from "../db/migrate.ts";
import { expiryBacklog } from "../sql/expiryBacklog.ts";
import type { CommandContext } from "./index.ts";

/** --dry-run: how many tickets a sweep would expire now, writing nothing; otherwise queue a sweep now. */
export async function expireCommand({ env, log, dryRun }: CommandContext): Promise<number> {
  const db = await openDatabase(env, log, 2);
  try {
    if (dryRun) {
      const { tickets, oldestValidEnd } = await expiryBacklog(db.pool, env.EXPIRE_GRACE_SECONDS);
      console.log(
        `${tickets} ticket(s) would expire now; oldest valid_end: ${oldestValidEnd ? oldestValidEnd.toISOString() : "-"}`,
      );
      return 0;
    }
    await migrate(db.pool, db.connectionString, log);
    const { rows } = await db.pool.query<{ id: string }>(
      `select id from graphile_worker.add_job('expire_tickets', '{"batch_size": 200}'::json,
              queue_name => 'expire_tickets', job_key => 'expire_tickets', job_key_mode => 'preserve_run_at', max_attempts => 1)`,
    );
    console.log(`expiry sweep queued as job ${rows[0]?.id}`);
    return 0;
  } finally {
    await db.close();
  }
}

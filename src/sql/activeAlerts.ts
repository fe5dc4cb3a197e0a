import type { Queryable } from "./queryable.ts";

export interface ActiveAlert {
  id: string;
  key: string;
  kind: string;
  message: string;
  details: unknown;
  raised_at: Date;
}

/** Every active alert, oldest first (view ticketing.active_alerts). */
export async function activeAlerts(db: Queryable): Promise<ActiveAlert[]> {
  const { rows } = await db.query<ActiveAlert>(
    "select id, key, kind, message, details, raised_at from ticketing.active_alerts order by raised_at, id",
  );
  return rows;
}

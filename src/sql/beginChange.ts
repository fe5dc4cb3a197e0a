import type { Queryable } from "./queryable.ts";

/** usable -> changing on receipt of a change request: applied / duplicate / rejected / finished. */
export async function beginChange(
  db: Queryable,
  eventId: string,
): Promise<"applied" | "duplicate" | "rejected" | "finished"> {
  const { rows } = await db.query<{ outcome: "applied" | "duplicate" | "rejected" | "finished" }>(
    "select ticketing.begin_change($1) as outcome",
    [eventId],
  );
  return rows[0]?.outcome ?? "finished";
}

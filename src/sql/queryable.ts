import type pg from "pg";

/** A pool or a checked-out client: each SQL operation runs in whatever transaction the caller holds. */
export type Queryable = Pick<pg.Pool, "query">;

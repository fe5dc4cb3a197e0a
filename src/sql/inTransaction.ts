import type { Queryable } from "./queryable.ts";

/**
 * Runs `body` in a transaction on `client` (a checked-out connection: every statement of `body` must use it):
 * committed when it returns, rolled back when it throws (the error goes on).
 */
export async function inTransaction<T>(client: Queryable, body: () => Promise<T>): Promise<T> {
  await client.query("begin");
  let result: T;
  try {
    result = await body();
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  }
  await client.query("commit");
  return result;
}

import { z } from "zod";
import { rawInteger } from "./db/exactJson.ts";

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const DECIMAL = /^-?\d+$/;

/**
 * A ticket or order id as PostgreSQL's bigint holds it, as its decimal string: an integer-valued JSON number
 * (kept exact beyond 2^53 by the pool's json parser) or a string of decimal digits, within the bigint range.
 */
export const bigintId = z.unknown().transform((value, ctx) => {
  const digits =
    typeof value === "number" && Number.isSafeInteger(value)
      ? String(value)
      : typeof value === "string" && DECIMAL.test(value)
        ? value
        : rawInteger(value);
  if (digits === undefined) {
    ctx.addIssue({ code: "custom", message: "expected an integer id (a JSON integer or a string of decimal digits)" });
    return z.NEVER;
  }
  const id = BigInt(digits);
  if (id < INT64_MIN || id > INT64_MAX) {
    ctx.addIssue({ code: "custom", message: "id is outside the bigint range" });
    return z.NEVER;
  }
  return id.toString();
});

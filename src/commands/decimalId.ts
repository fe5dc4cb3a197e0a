import { z } from "zod";

/**
 * A ticket, order or job id the CLI is given: an integer in decimal, kept as text (exact to 64 bits). Its range
 * is PostgreSQL's to judge (bigint: 22003 at the call), as it is for every other caller.
 */
export const decimalId = z.string().regex(/^-?\d{1,19}$/, "is not an integer id");

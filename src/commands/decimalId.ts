import { z } from "zod";

/** A ticket, order or job id given as an option: decimal digits, kept as text (exact to 64 bits). */
export const decimalId = z.string().regex(/^\d{1,19}$/, "must be a decimal id");

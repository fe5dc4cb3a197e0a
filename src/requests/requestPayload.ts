// A request job's payload: {ticket_id, event_id, meta?}. Shape only: the limits on event_id and meta are judged
// by SQL (ticketing.event_id_problem, ticketing.meta_problem), which fails the request with their words.
import { z } from "zod";
import { bigintId } from "../bigintId.ts";

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Text PostgreSQL cannot store at all (a NUL character, half of a UTF-16 surrogate pair), anywhere in the
 * value: such input fails the same way however often it is retried, before SQL could judge it.
 */
function unstorable(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\u0000") || LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.some(unstorable);
  if (value !== null && typeof value === "object")
    return Object.entries(value).some(([key, v]) => unstorable(key) || unstorable(v));
  return false;
}

/** `text` with what PostgreSQL cannot store replaced, so that it fits in a request row. */
export const storableText = (text: string): string =>
  text.replaceAll("\u0000", "").replace(new RegExp(LONE_SURROGATE, "g"), "\ufffd");

const eventId = z
  .string()
  .min(1)
  .refine((id) => !unstorable(id), "contains a NUL character or a lone surrogate");

/** The ids alone: enough to record a request whose payload is otherwise unusable. */
export const requestIds = z.object({ ticket_id: bigintId, event_id: eventId });

export const requestPayload = requestIds.extend({
  meta: z
    .record(z.string(), z.unknown())
    .default({})
    .refine((meta) => !unstorable(meta), "contains a NUL character or a lone surrogate"),
});

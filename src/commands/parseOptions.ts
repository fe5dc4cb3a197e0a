import type { z } from "zod";
import { ConfigError } from "../config/env.ts";
import { formatZodError } from "../config/formatZodError.ts";

/** Checks a command's options against `schema`; a bad one is a one-line error naming it. */
export function parseOptions<T extends z.ZodType>(schema: T, options: unknown): z.infer<T> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) throw new ConfigError(`invalid option: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

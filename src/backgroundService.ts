// The one shape of a background service (the dispatcher, the lifeline, the job cleaner, the alert monitor, the
// HTTP endpoints): `start(deps, options)` in a file of its own, its options schema beside it (bounds and the rules
// between its own options; defaults and their reasons in src/config/knobs.ts), returning a BackgroundService.
import type { z } from "zod";
import { ConfigError } from "./config/env.ts";
import { formatZodError } from "./config/formatZodError.ts";

export interface BackgroundService {
  /** Lets the service's current work finish, then releases what it holds. Resolves when it has. */
  stop(): Promise<void>;
}

/** `options` through a service's schema; bad ones are one ConfigError line naming the service and each bad key. */
export function parseServiceOptions<S extends z.ZodType>(service: string, schema: S, options: unknown): z.output<S> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) throw new ConfigError(optionsProblem(service, parsed.error));
  return parsed.data;
}

const optionsProblem = (service: string, error: z.ZodError) => `${service} options: ${formatZodError(error)}`;

/** What is wrong with `options` for `service`, in one line; undefined when nothing is. */
export function serviceOptionsProblem(service: string, schema: z.ZodType, options: unknown): string | undefined {
  const parsed = schema.safeParse(options);
  return parsed.success ? undefined : optionsProblem(service, parsed.error);
}

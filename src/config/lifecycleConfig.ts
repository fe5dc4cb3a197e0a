import { readFileSync } from "node:fs";
import { parseCronItems } from "graphile-worker";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import expireTickets from "../../tasks/expire_tickets.ts";
import { ConfigError } from "./env.ts";
import { formatZodError } from "./formatZodError.ts";

function isCronPattern(pattern: string): boolean {
  try {
    parseCronItems([{ task: "probe", identifier: "probe", match: pattern }]);
    return true;
  } catch {
    return false;
  }
}

const schedule = z.string().refine(isCronPattern, "not a valid 5-field cron pattern");

/**
 * The daemon's YAML file, in the format the design fixes: the sweep's (expire_job) schedule and batch size, the
 * refund job's schedule and consumer. Unknown keys are refused so a typo cannot be silently ignored.
 */
export const lifecycleConfigSchema = z.strictObject({
  lifecycle_daemon: z.strictObject({
    expire_job: z
      .strictObject({ schedule: schedule.optional(), batch_size: expireTickets.payload.shape.batch_size })
      .optional(),
    refund_job: z
      .strictObject({
        schedule: schedule.optional(),
        consumer: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/, "letters, digits, _ and - only (1-64)")
          .optional(),
      })
      .optional(),
  }),
});

export type LifecycleConfig = z.infer<typeof lifecycleConfigSchema>;

export function readLifecycleConfig(file: string): LifecycleConfig {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError(`config ${file}: ${(error as Error).message.split("\n")[0]}`);
  }
  const parsed = lifecycleConfigSchema.safeParse(document);
  if (!parsed.success) throw new ConfigError(`config ${file}: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

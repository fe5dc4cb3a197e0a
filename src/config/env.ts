import { z } from "zod";
import { formatZodError } from "./formatZodError.ts";

const optionalUrl = z.url({ protocol: /^https?$/ }).optional();
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const envSchema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  NOTIFICATION_URL: optionalUrl,
  NOTIFICATION_SECRET: z.string().min(16, "must be at least 16 characters").optional(),
  REFUND_SERVICE_URL: optionalUrl,
  CHANGE_SERVICE_URL: optionalUrl,
  HTTP_PORT: int(0, 65535).default(9464),
  /** Address of the metrics/health endpoints; 0.0.0.0 lets a Prometheus on another host scrape them. */
  HTTP_HOST: z.union([z.ipv4(), z.ipv6(), z.literal("localhost")]).default("127.0.0.1"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** The CLI's log lines on stderr: json, or pretty (readable lines); unset: pretty on a terminal, else json. */
  LOG_FORMAT: z.enum(["json", "pretty"]).optional(),
  WORKER_CONCURRENCY: int(1, 64).default(4),
  /** Tickets expire this many seconds after valid_end (card: none by default). */
  EXPIRE_GRACE_SECONDS: int(0, 30 * 86400).default(0),
  /** Timeout of one call to refund-processing, the change service or notification-orchestrator. */
  HTTP_TIMEOUT_MS: int(100, 120_000).default(10_000),
  /** Delivered outbox rows are deleted after this many hours; undelivered ones never are. */
  OUTBOX_RETENTION_HOURS: int(1, 24 * 365).default(168),
});

export type Env = z.infer<typeof envSchema>;

export class ConfigError extends Error {}

/** Reads the environment; empty variables count as unset. Throws a one-line ConfigError. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const present = Object.fromEntries(
    Object.keys(envSchema.shape)
      .map((key) => [key, source[key]] as const)
      .filter(([, value]) => value !== undefined && value !== ""),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) throw new ConfigError(`invalid environment: ${formatZodError(parsed.error)}`);
  return parsed.data;
}

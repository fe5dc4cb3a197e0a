import { z } from "zod";
import { formatZodError } from "./formatZodError.ts";

const optionalUrl = z.url({ protocol: /^https?$/ }).optional();
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const envSchema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  NOTIFICATION_URL: optionalUrl,
  /**
   * Standard Webhooks signing key: "whsec_" and the base64 of 24 to 64 random bytes (the spec's advice).
   * Refused with a message that never echoes it.
   */
  NOTIFICATION_SECRET: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, "must be whsec_ followed by base64 (a Standard Webhooks secret)")
    .refine((value) => {
      const bytes = Buffer.from(value.slice("whsec_".length), "base64").length;
      return bytes >= 24 && bytes <= 64;
    }, "must decode to 24-64 bytes after whsec_")
    .optional(),
  /** The CloudEvents `source` of every event: a URI-reference naming this deployment. */
  CLOUDEVENTS_SOURCE: z
    .string()
    .regex(/^[^\s"<>\\^`{|}]+$/, "must be a URI-reference (no spaces, quotes or brackets)")
    .default("/ticket-lifecycle-daemon"),
  REFUND_SERVICE_URL: optionalUrl,
  CHANGE_SERVICE_URL: optionalUrl,
  /** Calls to refund-processing started per second, across every daemon of the database (unset: no limit). */
  REFUND_SERVICE_RATE: z.coerce.number().positive().max(100_000).optional(),
  /** Calls to refund-processing in flight at once, across every daemon of the database (unset: no limit). */
  REFUND_SERVICE_CONCURRENCY: int(1, 10_000).optional(),
  HTTP_PORT: int(0, 65535).default(9464),
  /** Address of the metrics/health endpoints; 0.0.0.0 lets a Prometheus on another host scrape them. */
  HTTP_HOST: z.union([z.ipv4(), z.ipv6(), z.literal("localhost")]).default("127.0.0.1"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** The CLI's log lines on stderr: json, or pretty (readable lines); unset: pretty on a terminal, else json. */
  LOG_FORMAT: z.enum(["json", "pretty"]).optional(),
  WORKER_CONCURRENCY: int(1, 64).default(4),
  /**
   * Jobs the runner fetches (and locks) at once and hands to its workers without a query each; 0 = off, one
   * fetch per job. Off by default: a runner whose workers are all busy still fills its local queue, holding
   * jobs locked that another daemon's idle workers could run (two daemons no longer share four sweeps).
   */
  WORKER_LOCAL_QUEUE_SIZE: int(0, 1000).default(0),
  /**
   * Completions and failures within this many ms are written back in one statement; -1 = one statement each.
   * Off by default: graphile-worker 0.18 stops its whole runner when a batched write-back is cut off by a
   * database restart (test/reliability/pgRestart.test.ts), where a single write-back only loses that job's lock.
   */
  WORKER_BATCH_DELAY_MS: int(-1, 1000).default(-1),
  /** Tickets expire this many seconds after valid_end; none by default: a ticket is void once its validity ends. */
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

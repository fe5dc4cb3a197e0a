import { readFileSync } from "node:fs";
import { type ParsedCronItem, parseCronItems, parseCrontab } from "graphile-worker";
import type { LifecycleConfig } from "./config/lifecycleConfig.ts";
import type { SweepJob } from "./sql/sweepJob.ts";
import type { TaskDefinition } from "./taskDefinition.ts";

const crontabPath = new URL("../crontab", import.meta.url);

/** What a crontab line may not say: how its task is queued is the task's own definition (or the sweep's identity). */
const ENQUEUE_OPTIONS = ["queueName", "jobKey", "jobKeyMode", "maxAttempts"] as const;

export interface ScheduleSources {
  /** The daemon's tasks (tasks/*.ts): each scheduled task's enqueue options. */
  definitions: TaskDefinition[];
  /** The expiry sweep's job identity (ticketing.sweep_job): its enqueue options and default batch size. */
  sweep: SweepJob;
  /** The YAML file's schedules, batch size and consumer, laid over the crontab. */
  config?: LifecycleConfig;
}

/**
 * The daemon's schedule: the shipped crontab's times, identifiers and payloads, each item queued the way its
 * task's definition says (the sweep: as its identity in the database says), with the YAML config laid over it.
 * The cron identifiers (expire_job, refund_job) are what graphile-worker deduplicates runs by across daemons.
 */
export function loadSchedule({ definitions, sweep, config }: ScheduleSources, crontab = crontabPath): ParsedCronItem[] {
  const daemon = config?.lifecycle_daemon;
  const defined = (task: string) => definitions.find((definition) => definition.identifier === task);
  if (!defined(sweep.task))
    throw new Error(`ticketing.sweep_job() names task ${sweep.task}, which no file in tasks/ defines`);
  return parseCrontab(readFileSync(crontab, "utf8")).map((item) => {
    const written = ENQUEUE_OPTIONS.filter((option) => item.options[option] !== undefined);
    if (written.length)
      throw new Error(
        `crontab: ${item.identifier} sets ${written.join(", ")}; how ${item.task} is queued is its definition's (tasks/${item.task}.ts) or, for the sweep, ticketing.sweep_job()'s`,
      );
    const definition = defined(item.task);
    if (!definition)
      throw new Error(`crontab: ${item.identifier} runs task ${item.task}, which no file in tasks/ defines`);
    const enqueue = item.task === sweep.task ? sweep.spec : definition.enqueue;
    const payload = { ...(item.task === sweep.task ? { batch_size: sweep.batchSize } : {}), ...item.payload };
    if (item.identifier === "expire_job" && daemon?.expire_job) {
      const { schedule, batch_size } = daemon.expire_job;
      return scheduled(item, enqueue, schedule, batch_size === undefined ? payload : { ...payload, batch_size });
    }
    if (item.identifier === "refund_job" && daemon?.refund_job) {
      const { schedule, consumer } = daemon.refund_job;
      return scheduled(item, { ...enqueue, ...(consumer ? { queueName: consumer } : {}) }, schedule, payload);
    }
    return scheduled(item, enqueue, undefined, payload);
  });
}

function scheduled(
  item: ParsedCronItem,
  enqueue: TaskDefinition["enqueue"],
  schedule: string | undefined,
  payload: Record<string, unknown>,
): ParsedCronItem {
  const { jobKeyMode, ...rest } = enqueue ?? {};
  // graphile-worker's cron knows two of add_job's three key modes.
  if (jobKeyMode === "unsafe_dedupe")
    throw new Error(`crontab: ${item.identifier}: a cron item cannot use jobKeyMode unsafe_dedupe`);
  const [parsed] = parseCronItems([
    {
      task: item.task,
      identifier: item.identifier,
      match: schedule ?? item.match,
      options: { ...item.options, ...rest, jobKeyMode },
      payload,
    },
  ]);
  return parsed as ParsedCronItem;
}

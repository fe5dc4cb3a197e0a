import { readFileSync } from "node:fs";
import { type ParsedCronItem, parseCronItems, parseCrontab } from "graphile-worker";
import type { LifecycleConfig } from "./config/lifecycleConfig.ts";

const crontabPath = new URL("../crontab", import.meta.url);

/** The shipped crontab, with the YAML config's schedules, batch size and consumer laid over it. */
export function loadSchedule(config?: LifecycleConfig): ParsedCronItem[] {
  const items = parseCrontab(readFileSync(crontabPath, "utf8"));
  const daemon = config?.lifecycle_daemon;
  return items.map((item) => {
    if (item.identifier === "expire_job" && daemon?.expire_job) {
      const { schedule, batch_size } = daemon.expire_job;
      return override(item, schedule, batch_size === undefined ? {} : { batch_size }, undefined);
    }
    if (item.identifier === "refund_job" && daemon?.refund_job) {
      const { schedule, consumer } = daemon.refund_job;
      return override(item, schedule, {}, consumer);
    }
    return item;
  });
}

function override(
  item: ParsedCronItem,
  schedule: string | undefined,
  payload: object,
  queueName: string | undefined,
): ParsedCronItem {
  if (!schedule && !Object.keys(payload).length && !queueName) return item;
  const [parsed] = parseCronItems([
    {
      task: item.task,
      identifier: item.identifier,
      match: schedule ?? item.match,
      options: { ...item.options, ...(queueName ? { queueName } : {}) },
      payload: { ...item.payload, ...payload },
    },
  ]);
  return parsed as ParsedCronItem;
}

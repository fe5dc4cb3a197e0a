import type pg from "pg";
import type { Env } from "./config/env.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./observability/metrics.ts";
import type { RuleServices } from "./requests/ruleServices.ts";
import type { SweepJob } from "./sql/sweepJob.ts";

/** What every task is built from. */
export interface TaskDeps {
  pool: pg.Pool;
  log: Logger;
  env: Env;
  metrics: Metrics;
  /** The rule service per kind; undefined: the built-in approve policy (decided in SQL). */
  decide: RuleServices;
  /** The expiry sweep's job identity, read from the database at start-up. */
  sweep: SweepJob;
}

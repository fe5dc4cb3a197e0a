import type { Env } from "../config/env.ts";
import type { LifecycleConfig } from "../config/lifecycleConfig.ts";
import type { Logger } from "../logger.ts";
import { demoCommand } from "./demo.ts";
import { expireCommand } from "./expire.ts";
import { migrateCommand } from "./migrate.ts";
import { type RefundOptions, refundCommand } from "./refund.ts";
import { runCommand } from "./run.ts";
import { statusCommand } from "./status.ts";

export interface CommandContext {
  env: Env;
  log: Logger;
  config: LifecycleConfig | undefined;
  dryRun: boolean;
  json: boolean;
  /** `refund`'s options. */
  refund?: RefundOptions;
}

export type Command = (ctx: CommandContext) => Promise<number>;

export const commands: Record<string, Command> = {
  run: runCommand,
  migrate: migrateCommand,
  expire: expireCommand,
  status: statusCommand,
  demo: demoCommand,
  refund: refundCommand,
};

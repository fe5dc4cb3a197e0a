// What a command is handed and what it is: the types every command file and the command table share. They
// live apart from the table, which imports every command, so no command imports the table back.
import type { Env } from "../config/env.ts";
import type { LifecycleConfig } from "../config/lifecycleConfig.ts";
import type { Logger } from "../logger.ts";

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandContext {
  env: Env;
  log: Logger;
  config: LifecycleConfig | undefined;
  dryRun: boolean;
  json: boolean;
  /** This command's options, as parsed. */
  options: OptionValues;
  /** Positional arguments after the command's name. */
  args: string[];
}

export type Command = (ctx: CommandContext) => Promise<number>;

#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so `npm ci` is the only step before using the CLI.
//
// The code needs Node.js >= 22.18. npm scripts and npx put the runtime this package bundles (the `node` package)
// first on PATH; started any other way by an older `node`, the CLI runs itself again on the bundled runtime, or,
// where there is none, says in one line what it needs.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const REQUIRED = "22.18";
/** Set in the environment of the CLI run again on the bundled runtime: that one must not relaunch once more. */
const RELAUNCHED = "TICKET_LIFECYCLE_RELAUNCHED";

function supported(version) {
  const [major, minor] = version.split(".").map(Number);
  const [needMajor, needMinor] = REQUIRED.split(".").map(Number);
  return major > needMajor || (major === needMajor && minor >= needMinor);
}

function bundledNode() {
  try {
    const packageDir = path.dirname(createRequire(import.meta.url).resolve("node/package.json"));
    const binary = path.join(packageDir, "bin", "node");
    return existsSync(binary) ? binary : undefined;
  } catch {
    return undefined;
  }
}

if (supported(process.versions.node)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli.ts");
} else {
  const bundled = process.env[RELAUNCHED] ? undefined : bundledNode();
  if (!bundled) {
    console.error(
      `ticket-lifecycle: needs Node.js >= ${REQUIRED}, this is ${process.version}: put a newer node first on PATH (or run it through npm start / npx, which use the bundled one)`,
    );
    process.exit(1);
  }
  relaunch(bundled);
}

/**
 * Runs this CLI on `node` and stands for it: SIGTERM/SIGINT sent to this process are passed on, and this process
 * ends the way the CLI ends. If this process is killed outright, the daemon notices its parent is gone and stops.
 */
function relaunch(node) {
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, [RELAUNCHED]: "1" },
  });
  for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => child.kill(signal));
  child.on("error", (error) => {
    console.error(`ticket-lifecycle: could not start ${node}: ${error.message}`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else {
      process.exit(code ?? 1);
    }
  });
}

// `npm run bench [-- --quick] [-- --json] [-- --only expiry,requests,...]`: every benchmark of issue 5 on
// one PostgreSQL (DATABASE_URL, else the embedded server in .data/bench), baseline and daemon in the
// same run, then one table (or JSON). Targets are reported, never enforced: CI runs --quick as a smoke.
import { parseArgs } from "node:util";
import { bulkBenchmark } from "./bulk.ts";
import { deliveryBenchmark } from "./delivery.ts";
import { expiryBenchmark } from "./expiry.ts";
import { latencyBenchmark } from "./latency.ts";
import { profile } from "./profile.ts";
import { requestsBenchmark } from "./requests.ts";
import { scaleOutBenchmark } from "./scaleOut.ts";
import { formatTable, machine, type Report, type Row } from "./support/report.ts";
import { type BenchServer, startBenchServer } from "./support/server.ts";

const SIZES = {
  full: {
    expiry: { tickets: 200_000, rounds: 3, schemaCosts: true },
    requests: 100_000,
    latency: 1_000,
    delivery: 100_000,
    scaleOut: 100_000,
    bulk: 100_000,
  },
  quick: {
    expiry: { tickets: 20_000, rounds: 1, schemaCosts: false },
    requests: 5_000,
    latency: 200,
    delivery: 10_000,
    scaleOut: 20_000,
    bulk: 10_000,
  },
};

type Sizes = (typeof SIZES)["full"];
type Benchmark = (server: BenchServer, sizes: Sizes, progress: (message: string) => void) => Promise<Row[]>;

const BENCHMARKS: Record<string, Benchmark> = {
  expiry: (server, sizes, progress) => expiryBenchmark(server, sizes.expiry, progress),
  requests: (server, sizes, progress) => requestsBenchmark(server, sizes.requests, progress),
  latency: (server, sizes, progress) => latencyBenchmark(server, sizes.latency, progress),
  delivery: (server, sizes, progress) => deliveryBenchmark(server, sizes.delivery, progress),
  "scale-out": (server, sizes, progress) => scaleOutBenchmark(server, sizes.scaleOut, progress),
  bulk: (server, sizes, progress) => bulkBenchmark(server, sizes.bulk, progress),
};

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    only: { type: "string" },
    profile: { type: "boolean", default: false },
    "expiry-rounds": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run bench -- [--quick] [--json] [--only ${Object.keys(BENCHMARKS).join(",")}] [--profile] [--expiry-rounds N]

--profile   instead of the benchmarks, EXPLAIN (ANALYZE, BUFFERS) of every statement in one expiry batch
            and in one refund request (auto_explain; needs a superuser connection)
--expiry-rounds N   rounds of the expiry cases (default 3 in the full run, 1 with --quick)`);
  process.exit(0);
}
const only = values.only ? values.only.split(",").map((s) => s.trim()) : Object.keys(BENCHMARKS);
const unknown = only.filter((name) => !BENCHMARKS[name]);
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${Object.keys(BENCHMARKS).join(", ")}`);
  process.exit(2);
}

const mode = values.quick ? "quick" : "full";
if (values["expiry-rounds"] !== undefined) {
  const rounds = Number(values["expiry-rounds"]);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
    console.error("--expiry-rounds must be a whole number from 1 to 20");
    process.exit(2);
  }
  SIZES[mode].expiry.rounds = rounds;
}
const startedAt = new Date().toISOString();
const started = performance.now();
// Progress goes to stderr, so `--json > results.json` stays clean.
const progress = (message: string) =>
  console.error(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${message}`);
const server = await startBenchServer();
if (values.profile) {
  try {
    console.log(await profile(server, progress));
  } finally {
    await server.stop();
  }
  process.exit(0);
}
const rows: Row[] = [];
try {
  for (const name of only) {
    rows.push(...(await (BENCHMARKS[name] as Benchmark)(server, SIZES[mode], progress)));
  }
} finally {
  await server.stop();
}
const report: Report = {
  startedAt,
  mode,
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
  machine: machine(),
  postgres: { version: server.version, settings: server.settings },
  rows,
  totalSeconds: (performance.now() - started) / 1000,
};
console.log(values.json ? JSON.stringify(report, null, 2) : formatTable(report));

// What every benchmark returns, and the table `npm run bench` prints.
import os from "node:os";

export interface Row {
  benchmark: string;
  /** What ran: "ceiling (10k chunks)", "daemon", ... */
  case: string;
  /** How much work: tickets, jobs, requests, events. */
  count: number;
  unit: string;
  seconds: number;
  /** count / seconds. */
  perSecond: number;
  /** perSecond relative to this benchmark's baseline row (1 for the baseline itself). */
  ratio?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Peak resident set size of the process measured (the daemon child), MB. */
  peakRssMb?: number;
  /** CPU seconds of PostgreSQL plus the process under test during the run (support/cpu.ts). */
  cpuSeconds?: number;
  /** The issue's target for this row, and whether this run met it. */
  target?: string;
  met?: boolean;
  note?: string;
}

export interface Report {
  startedAt: string;
  mode: "full" | "quick";
  command: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; platform: string; node: string };
  postgres: { version: string; settings: Record<string, string> };
  rows: Row[];
  totalSeconds: number;
}

export function machine(): Report["machine"] {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  const index = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[index] as number;
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const fixed = (n: number | undefined, digits: number) => (n === undefined || Number.isNaN(n) ? "" : n.toFixed(digits));

export function formatTable(report: Report): string {
  const header = [
    "benchmark",
    "case",
    "work",
    "time s",
    "per second",
    "ratio",
    "p50 ms",
    "p99 ms",
    "CPU µs/unit",
    "peak RSS MB",
    "target",
    "",
  ];
  const lines = report.rows.map((r) => [
    r.benchmark,
    r.case,
    `${int(r.count)} ${r.unit}`,
    fixed(r.seconds, 1),
    int(r.perSecond),
    r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`,
    fixed(r.p50Ms, 1),
    fixed(r.p99Ms, 1),
    fixed(r.cpuSeconds === undefined ? undefined : (r.cpuSeconds / r.count) * 1e6, 0),
    fixed(r.peakRssMb, 0),
    r.target ?? "",
    r.met === undefined ? "" : r.met ? "met" : "MISSED",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const numeric = new Set([2, 3, 4, 5, 6, 7, 8, 9]);
  const render = (cells: string[]) =>
    `| ${cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join(" | ")} |`;
  const rule = `| ${widths.map((w, i) => (numeric.has(i) ? `${"-".repeat(w - 1)}:` : "-".repeat(w))).join(" | ")} |`;
  const notes = report.rows.filter((r) => r.note).map((r) => `- ${r.benchmark} / ${r.case}: ${r.note}`);
  const m = report.machine;
  return [
    `${report.command} (${report.mode}), ${report.startedAt}, ${report.totalSeconds.toFixed(0)} s`,
    `machine: ${m.cpus} x ${m.cpuModel}, ${m.memoryGb} GB, ${m.platform}, node ${m.node}`,
    `PostgreSQL ${report.postgres.version} (${Object.entries(report.postgres.settings)
      .filter(([k]) => k !== "server_version")
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")})`,
    "",
    render(header),
    rule,
    ...lines.map(render),
    ...(notes.length ? ["", ...notes] : []),
  ].join("\n");
}

// CPU time spent on a piece of work: PostgreSQL's processes plus the process under test. On a shared,
// noisy machine wall-clock throughput swings with the neighbours' load; CPU time per unit of work does
// not, so the table shows both. Linux /proc only, and only for a server on this machine (the embedded
// one); elsewhere the figures are left out.
import { readdirSync, readFileSync } from "node:fs";

/** USER_HZ: the unit of /proc/<pid>/stat times; 100 on every Linux we run on. */
const TICKS_PER_SECOND = 100;

interface Stat {
  ppid: number;
  /** utime + stime of the process itself, and of its children that have exited and been waited for. */
  own: number;
  reaped: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const n = (i: number) => Number(fields[i - 3]);
    return { ppid: n(4), own: n(14) + n(15), reaped: n(16) + n(17) };
  } catch {
    return undefined;
  }
}

/** The postmaster's pid, from one of its backends' pid, when the server runs on this machine; else undefined. */
export function localPostmaster(backendPid: number): number | undefined {
  const backend = stat(backendPid);
  return backend && stat(backend.ppid) ? backend.ppid : undefined;
}

/** CPU ticks of the whole server: the postmaster, every live child, every child that has exited. */
function serverTicks(postmaster: number): number {
  const root = stat(postmaster);
  if (!root) return Number.NaN;
  let ticks = root.own + root.reaped;
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === postmaster) continue;
    const s = stat(pid);
    if (s?.ppid === postmaster) ticks += s.own;
  }
  return ticks;
}

export interface CpuMeter {
  /** CPU seconds since start: the server plus the measured processes (read it while they still run). */
  read(): number | undefined;
}

/**
 * Starts counting the server's CPU plus that of `pids` (daemon children), or of this process when
 * `pids` is empty (the baseline's client).
 */
export function startCpuMeter(postmaster: number | undefined, pids: number[] = []): CpuMeter {
  if (postmaster === undefined) return { read: () => undefined };
  const measured = () => {
    if (pids.length === 0) {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / (1_000_000 / TICKS_PER_SECOND);
    }
    return pids.reduce((sum, pid) => sum + (stat(pid)?.own ?? Number.NaN), 0);
  };
  const start = serverTicks(postmaster) + measured();
  return {
    read() {
      const spent = (serverTicks(postmaster) + measured() - start) / TICKS_PER_SECOND;
      return Number.isFinite(spent) ? spent : undefined;
    },
  };
}

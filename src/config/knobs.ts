// Every internal knob of the daemon, in one place: what it is and why it has its default. Operators set the
// environment (env.ts); these are the values under it, changed in code (a test passes its own to a service). Each
// background service validates its share with the options schema beside it (bounds and shape); the rules that tie
// knobs of different services, or a knob and a variable, to each other are checked once at start-up by
// `checkKnobs`, which names every rule broken in one line.
import type { BackoffPolicy } from "../backoff.ts";
import type { Env } from "./env.ts";
import { ConfigError } from "./env.ts";

export const knobs = {
  /** The outbox dispatcher (src/delivery/dispatcher.ts). */
  dispatcher: {
    /** Events claimed per round, one transaction: a claim costs about the same for one event as for hundreds. */
    batchSize: 500,
    /** HTTP requests in flight per lane, each on a kept-alive connection: enough to hide a receiver's latency. */
    concurrency: 32,
    /**
     * Rounds running at once, each its own transaction (SKIP LOCKED keeps them apart, the claim keeps each ticket
     * in order): one lane's database work overlaps another's HTTP requests. Each lane holds a pool connection.
     */
    lanes: 2,
    /**
     * After a wake-up, and after a round that was not full, wait this long before the next claim: events that
     * trickle in one by one (each job commits its own) then share a round instead of costing one each. A full
     * round (a backlog) goes on at once; 0 claims at once. Short enough that no one waits for an event.
     */
    lingerMs: 20,
    /** Longest sleep between rounds when no notification comes: a lost notification delays an event this long. */
    pollIntervalMs: 5_000,
    /**
     * First retry delay of a failed event; it doubles per failure up to backoffMaxMs (jittered). A 429's or 503's
     * Retry-After pushes the next attempt later still, up to backoffMaxMs: a receiver down for hours is asked
     * once an hour, not hammered.
     */
    backoffBaseMs: 1_000,
    backoffMaxMs: 3_600_000,
    /**
     * How often delivered events older than OUTBOX_RETENTION_HOURS are deleted, and how many per statement:
     * short transactions, no long lock on a big table.
     */
    pruneIntervalMs: 300_000,
    pruneChunk: 5_000,
    /** How often the outbox_backlog and outbox_oldest_undelivered_seconds gauges are read: a scrape's interval. */
    gaugeIntervalMs: 5_000,
    /** A timer set for a backed-off event fires this much after its due time, so the claim finds it due. */
    dueSlackMs: 5,
  },
  /** Crash recovery (src/maintenance/lifeline.ts). */
  lifeline: {
    /** How often this process records its heartbeat. */
    heartbeatMs: 5_000,
    /**
     * A heartbeat older than this is a dead process whose jobs are freed. At least three heartbeats, so one
     * slow write (a checkpoint, a failover) does not count a live daemon dead.
     */
    deadAfterMs: 30_000,
    /** How often one live daemon frees dead ones' jobs: with deadAfterMs, a killed daemon's jobs run again within a minute. */
    rescueIntervalMs: 10_000,
    /** How often one job gets its interrupted attempt back: a job that kills every process running it stops there. */
    maxRescues: 3,
  },
  /** Retention of graphile-worker's permanently failed jobs (src/maintenance/jobCleaner.ts). */
  jobCleaner: {
    /** A week: long enough to look at a failure after a weekend; the facts stay in job_health, alerts and logs. */
    failedRetentionHours: 168,
    intervalMs: 600_000,
    /** Jobs deleted per statement, so a large backlog never holds long locks. */
    chunk: 5_000,
  },
  /** The stalled-schedule alert (src/maintenance/alertMonitor.ts). */
  alertMonitor: {
    /** How often the sweep's last success is compared with its schedule: well under one tick of the schedule. */
    intervalMs: 30_000,
    /** Scheduled ticks without a successful sweep that raise job_stalled: one missed tick can be a slow sweep. */
    missedTicks: 3,
  },
  /** The jobs that work through a backlog in batches (tasks/expire_tickets.ts, tasks/bulk_refund.ts). */
  batchJobs: {
    /** The most batches one job keeps in flight (its payload's `lanes`), each a pool connection: see pool below. */
    maxLanes: 8,
    /** How often a long job logs how far it got. */
    progressEveryMs: 5_000,
    /** How often a bulk handed to refund-processing is topped up and checked. */
    bulkFeedEveryMs: 500,
  },
  /** Error texts store the start of a failed answer's body (outbox.last_error, a request's error). */
  failureBodyChars: { delivery: 200, ruleServiceRefusal: 500, ruleServiceFault: 200 },
  /** The CLI's `events replay --wait` (src/commands/events.ts): how often it looks, how often it says so. */
  replayWait: { pollMs: 500, progressEveryMs: 1_000 },
  /** The graphile-worker runner (src/daemon.ts). */
  runner: {
    /** How often the runner looks for jobs when no LISTEN notification came. */
    pollIntervalMs: 2_000,
    /**
     * How long graphile-worker lets running jobs go on after shutdown begins before it aborts them. 0: the sweep,
     * the only task that watches the abort signal, stops at its next batch boundary as soon as shutdown starts.
     */
    gracefulShutdownAbortTimeoutMs: 0,
  },
  /**
   * Database errors pause a dispatcher lane, and a lost LISTEN connection waits before reconnecting, this long at
   * first, doubling up to maxMs (src/backoff.ts): a restart is over in seconds, a failover within half a minute.
   */
  databaseRetry: { baseMs: 200, maxMs: 30_000 },
  /**
   * graphile-worker's connections wait out a database restart (src/db/waitingPool.ts) with this backoff, for up to
   * maxWaitMs; a longer outage is left to the lifeline, which frees a job whose bookkeeping was lost.
   */
  workerConnectRetry: { baseMs: 200, maxMs: 5_000, maxWaitMs: 60_000 },
  /** `ticket-lifecycle run`'s shutdown (src/commands/run.ts). */
  shutdown: {
    /** A graceful shutdown longer than this is forced: running batches commit or roll back well within it. */
    gracefulTimeoutMs: 30_000,
    /** How long a forced shutdown spends handing this process's jobs over (retiring its heartbeat) before it exits. */
    abandonTimeoutMs: 3_000,
    /**
     * A second signal this soon after the first is the same request delivered twice, not an impatient operator:
     * Ctrl-C signals the terminal's whole process group, so the daemon gets SIGINT from the terminal and once more
     * from npm (or the bin's relaunch), which passes on what it receives.
     */
    repeatedSignalMs: 500,
    /** How often a daemon started through a launcher (npm, npx, the bin's relaunch) checks that it is still its parent. */
    launcherCheckMs: 500,
  },
  /** Refund and change requests (the request task). */
  requests: {
    /**
     * The lease a worker holds on a request while its rule service decides; a crashed worker's request is
     * re-driven after it. It must outlast the longest call it covers (checkKnobs): HTTP_TIMEOUT_MS, the wait for a
     * slot of the shared rate limit, and the statements around the call.
     */
    leaseSeconds: 120,
    /** What the lease covers besides the call and the wait: claiming, beginning a change, applying the decision. */
    leaseMarginMs: 10_000,
    /**
     * The longest a call waits for a slot of REFUND_SERVICE_RATE / REFUND_SERVICE_CONCURRENCY inside the lease;
     * counted only when one of them is set.
     */
    rateLimitWaitMs: 30_000,
    /** A rate-limit slot's lease outlives the call it covers by this much (a daemon that dies mid-call frees it then). */
    rateSlotLeaseMarginSeconds: 5,
  },
  /**
   * A transaction that met a deadlock or a serialization failure (src/retryOnConflict.ts) runs again after this
   * backoff, up to `attempts` times in all: each retry is cheap, and a conflict clears within milliseconds.
   */
  conflictRetry: { baseMs: 20, maxMs: 320, attempts: 5 },
  /**
   * The daemon's pool (poolSizeFor): one connection per concurrent job, plus what runs beside the jobs. A batch job
   * (the sweep, a bulk refund) runs up to batchJobs.maxLanes lanes, each a connection: the extra lanes of one such
   * job beyond its own are reserved; more batch jobs at once share the pool and wait their turn for a connection
   * (each lane holds one only for one statement, so they never wait on each other).
   */
  pool: { runner: 1, dispatcherTimers: 2, jobCleaner: 1 },
} as const;

/**
 * Connections the daemon's pool needs, by user: one per concurrent job, the sweep's extra lanes, the runner's own,
 * one per dispatcher lane and its gauge and prune timers, the job cleaner. The lifeline and the LISTEN connection
 * have connections of their own. The readiness check and the gauges read at a scrape wait their turn.
 */
export function poolNeeds(env: Pick<Env, "WORKER_CONCURRENCY">, dispatcherLanes: number): Record<string, number> {
  return {
    jobs: env.WORKER_CONCURRENCY,
    batchJobExtraLanes: knobs.batchJobs.maxLanes - 1,
    runner: knobs.pool.runner,
    dispatcherLanes,
    dispatcherTimers: knobs.pool.dispatcherTimers,
    jobCleaner: knobs.pool.jobCleaner,
  };
}

/** The daemon's pool size: what poolNeeds adds up to (WORKER_CONCURRENCY + 13 with the default two lanes). */
export function poolSizeFor(env: Pick<Env, "WORKER_CONCURRENCY">, dispatcherLanes: number): number {
  return Object.values(poolNeeds(env, dispatcherLanes)).reduce((sum, n) => sum + n, 0);
}

/** The knobs and variables the start-up rules read (each service's own rules are in its options schema). */
export interface KnobSet {
  env: Pick<Env, "HTTP_TIMEOUT_MS" | "WORKER_CONCURRENCY" | "REFUND_SERVICE_RATE" | "REFUND_SERVICE_CONCURRENCY">;
  requests: { leaseSeconds: number; leaseMarginMs: number; rateLimitWaitMs: number };
  /** The retry policies that are not a service's option. */
  backoffs: Record<string, BackoffPolicy>;
  shutdown: { gracefulTimeoutMs: number; abandonTimeoutMs: number };
  dispatcherLanes: number;
  poolSize: number;
}

/** The knobs of this module as the daemon runs them, with `env` and the dispatcher's lanes. */
export function knobSetFor(env: KnobSet["env"], dispatcherLanes: number): KnobSet {
  return {
    env,
    requests: knobs.requests,
    backoffs: { databaseRetry: knobs.databaseRetry, workerConnectRetry: knobs.workerConnectRetry },
    shutdown: knobs.shutdown,
    dispatcherLanes,
    poolSize: poolSizeFor(env, dispatcherLanes),
  };
}

/** The start-up rules between knobs: one text per rule broken, empty when all hold. */
export function knobProblems(set: KnobSet): string[] {
  const problems: string[] = [];
  const { env, requests } = set;
  // The lease is taken before the wait for a rate-limit slot and the call, and proved when the decision is applied.
  const rateLimited = env.REFUND_SERVICE_RATE !== undefined || env.REFUND_SERVICE_CONCURRENCY !== undefined;
  const besideCall = requests.leaseMarginMs + (rateLimited ? requests.rateLimitWaitMs : 0);
  if (requests.leaseSeconds * 1000 < env.HTTP_TIMEOUT_MS + besideCall)
    problems.push(
      `the request lease (${requests.leaseSeconds} s) must outlast HTTP_TIMEOUT_MS (${env.HTTP_TIMEOUT_MS} ms)` +
        (rateLimited ? ` plus the rate limit's wait (${requests.rateLimitWaitMs} ms)` : "") +
        ` plus ${requests.leaseMarginMs} ms: set HTTP_TIMEOUT_MS to at most ${requests.leaseSeconds * 1000 - besideCall}`,
    );
  for (const [name, policy] of Object.entries(set.backoffs))
    if (policy.maxMs < policy.baseMs)
      problems.push(`${name}: maxMs (${policy.maxMs}) must be at least baseMs (${policy.baseMs})`);
  if (set.shutdown.abandonTimeoutMs > set.shutdown.gracefulTimeoutMs)
    problems.push(
      `shutdown: abandonTimeoutMs (${set.shutdown.abandonTimeoutMs}) must not exceed gracefulTimeoutMs (${set.shutdown.gracefulTimeoutMs})`,
    );
  const needs = poolNeeds(env, set.dispatcherLanes);
  const needed = Object.values(needs).reduce((sum, n) => sum + n, 0);
  if (set.poolSize < needed)
    problems.push(
      `the pool (${set.poolSize} connections) must hold what the jobs and services use (${needed}: ${Object.entries(
        needs,
      )
        .map(([user, n]) => `${user} ${n}`)
        .join(", ")})`,
    );
  return problems;
}

/**
 * Throws one ConfigError line naming every start-up rule broken: `serviceProblems` (the services' options
 * schemas' complaints) and the rules between knobs.
 */
export function checkKnobs(set: KnobSet, serviceProblems: string[] = []): void {
  const problems = [...serviceProblems, ...knobProblems(set)];
  if (problems.length > 0) throw new ConfigError(`invalid settings: ${problems.join("; ")}`);
}

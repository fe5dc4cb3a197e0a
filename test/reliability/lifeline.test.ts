// The lifeline's rules (sql/7-lifeline.sql, src/maintenance/lifeline.ts), one case each: which locks are
// freed, which are left alone, the attempt given back, the poison-pill limit, one rescuer at a time.
// Locks are set up the way graphile-worker writes them; no daemon runs here, so nothing else moves them.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { after, before, describe, test } from "node:test";
import type { WorkerEvents } from "graphile-worker";
import { createLogger } from "../../src/logger.ts";
import { startLifeline } from "../../src/maintenance/lifeline.ts";
import { waitFor } from "../support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asEngine } from "../support/engine.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

let seq = 0;
const unique = (prefix: string) => `${prefix}-${++seq}`;

/** A job (in its own named queue) locked by `owner` as graphile-worker does it: attempt counted, job and queue locked. */
async function lockedJob(owner: string, lockedAgo: string, maxAttempts = 1) {
  const queue = unique("queue");
  const { rows } = await db.pool.query<{ id: string }>(
    "select id from graphile_worker.add_job('lifeline_probe', '{}'::json, queue_name => $1, max_attempts => $2)",
    [queue, maxAttempts],
  );
  const id = rows[0]?.id as string;
  await db.pool.query(
    "update graphile_worker._private_jobs set attempts = attempts + 1, locked_by = $2, locked_at = now() - $3::interval where id = $1",
    [id, owner, lockedAgo],
  );
  await db.pool.query(
    "update graphile_worker._private_job_queues set locked_by = $2, locked_at = now() - $3::interval where queue_name = $1",
    [queue, owner, lockedAgo],
  );
  return { id, queue };
}

async function heartbeat(daemonId: string, workerIds: string[], seenAgo: string, activeJobIds: string[] = []) {
  // A heartbeat seen some time ago: record_heartbeat always writes now.
  await asEngine(
    db.pool,
    `insert into ticketing.daemon_heartbeats (daemon_id, pid, host, started_at, last_seen_at, worker_ids, active_job_ids)
     values ($1, 1, 'test', now() - interval '1 hour', now() - $2::interval, $3, $4)`,
    [daemonId, seenAgo, workerIds, activeJobIds],
  );
}

async function job(id: string) {
  const { rows } = await db.pool.query<{ locked_by: string | null; attempts: number; available: boolean }>(
    "select locked_by, attempts, is_available as available from graphile_worker._private_jobs where id = $1",
    [id],
  );
  return rows[0];
}

async function queueLockedBy(queue: string) {
  const { rows } = await db.pool.query(
    "select locked_by from graphile_worker._private_job_queues where queue_name = $1",
    [queue],
  );
  return rows[0]?.locked_by ?? null;
}

async function rescue() {
  const { rows } = await db.pool.query("select * from ticketing.rescue_orphaned_jobs(interval '30 seconds', 3)");
  return rows as Array<{
    job_id: string;
    reason: string;
    daemon_id: string | null;
    attempt_returned: boolean;
    rescues: number;
  }>;
}

describe("rescue_orphaned_jobs", () => {
  test("a dead daemon's job and queue are freed, its attempt given back, its heartbeat removed", async () => {
    const owner = unique("pool-dead");
    const daemonId = unique("daemon");
    const { id, queue } = await lockedJob(owner, "2 minutes");
    await heartbeat(daemonId, [owner], "1 minute");
    const rescued = (await rescue()).filter((r) => r.job_id === id);
    assert.deepEqual(
      rescued.map((r) => [r.reason, r.daemon_id, r.attempt_returned]),
      [["daemon_dead", daemonId, true]],
    );
    assert.deepEqual(await job(id), { locked_by: null, attempts: 0, available: true });
    assert.equal(await queueLockedBy(queue), null);
    const { rowCount } = await db.pool.query("select 1 from ticketing.daemon_heartbeats where daemon_id = $1", [
      daemonId,
    ]);
    assert.equal(rowCount, 0);
  });

  test("a live daemon's running job is left alone, however long it has run", async () => {
    const owner = unique("pool-live");
    const { id, queue } = await lockedJob(owner, "10 minutes");
    await heartbeat(unique("daemon"), [owner], "2 seconds", [id]);
    assert.deepEqual(
      (await rescue()).filter((r) => r.job_id === id),
      [],
    );
    assert.equal((await job(id))?.locked_by, owner);
    assert.equal(await queueLockedBy(queue), owner);
  });

  test("a live daemon's leaked lock (job not running there, locked before its heartbeat) is freed", async () => {
    const owner = unique("pool-leak");
    const { id, queue } = await lockedJob(owner, "10 minutes", 25);
    await heartbeat(unique("daemon"), [owner], "1 second", []);
    const rescued = (await rescue()).filter((r) => r.job_id === id);
    assert.deepEqual(
      rescued.map((r) => r.reason),
      ["lock_leaked"],
    );
    assert.deepEqual(await job(id), { locked_by: null, attempts: 0, available: true });
    assert.equal(await queueLockedBy(queue), null);
  });

  test("a lock no heartbeat claims is freed once older than the threshold, not before", async () => {
    const old = await lockedJob(unique("pool-unknown"), "1 minute");
    const young = await lockedJob(unique("pool-starting"), "5 seconds");
    const rescued = await rescue();
    assert.deepEqual(
      rescued.filter((r) => r.job_id === old.id).map((r) => [r.reason, r.daemon_id]),
      [["owner_unknown", null]],
    );
    assert.deepEqual(
      rescued.filter((r) => r.job_id === young.id),
      [],
    );
    assert.notEqual((await job(young.id))?.locked_by, null);
    assert.notEqual(await queueLockedBy(young.queue), null);
  });

  test("a job that kills every process running it gets its attempt back only three times", async () => {
    const { id } = await lockedJob(unique("pool-pill"), "1 minute");
    const returned: boolean[] = [];
    for (let round = 1; round <= 4; round++) {
      if (round > 1) {
        await db.pool.query(
          "update graphile_worker._private_jobs set attempts = attempts + 1, locked_by = $2, locked_at = now() - interval '1 minute' where id = $1",
          [id, unique("pool-pill")],
        );
      }
      const row = (await rescue()).find((r) => r.job_id === id);
      returned.push(row?.attempt_returned ?? false);
    }
    assert.deepEqual(returned, [true, true, true, false]);
    assert.deepEqual(await job(id), { locked_by: null, attempts: 1, available: false });
  });

  test("a retired daemon's leftovers are freed at the next rescue, without waiting for its heartbeat to age", async () => {
    const owner = unique("pool-retired");
    const daemonId = unique("daemon");
    const { id } = await lockedJob(owner, "1 second");
    await heartbeat(daemonId, [owner], "1 second", [id]);
    await db.pool.query("select ticketing.retire_daemon($1)", [daemonId]);
    assert.deepEqual(
      (await rescue()).filter((r) => r.job_id === id).map((r) => r.reason),
      ["daemon_dead"],
    );
  });

  test("one rescuer at a time: a second caller during a rescue gets nothing and changes nothing", async () => {
    const { id } = await lockedJob(unique("pool-contended"), "1 minute");
    const first = await db.pool.connect();
    try {
      await first.query("begin");
      await first.query("select pg_advisory_xact_lock(hashtext('ticketing.rescue_orphaned_jobs'))");
      assert.deepEqual(await rescue(), []);
      assert.notEqual((await job(id))?.locked_by, null);
      await first.query("commit");
    } finally {
      first.release();
    }
    assert.ok((await rescue()).some((r) => r.job_id === id));
  });

  test("a rescued refund job gives its request's lease back; the request resumes at once", async () => {
    const ticketId = 900_001;
    await db.pool.query("insert into ticketing.orders (id) values ($1)", [ticketId]);
    await db.pool.query(
      "insert into ticketing.tickets (id, order_id, valid_end) values ($1, $1, now() + interval '1 day')",
      [ticketId],
    );
    await db.pool.query("select ticketing.request_refund($1, 'lease-held-by-the-dead')", [ticketId]);
    await db.pool.query(
      "select * from ticketing.claim_request('refund', $1, 'lease-held-by-the-dead', '{}', interval '2 minutes')",
      [ticketId],
    );
    const owner = unique("pool-dead-lease");
    await db.pool.query(
      "update graphile_worker._private_jobs set attempts = 1, locked_by = $1, locked_at = now() - interval '1 minute' where key = 'request:lease-held-by-the-dead'",
      [owner],
    );
    await heartbeat(unique("daemon"), [owner], "1 minute");
    await rescue();
    const { rows } = await db.pool.query(
      "select status, locked_until from ticketing.ticket_requests where event_id = 'lease-held-by-the-dead'",
    );
    assert.deepEqual(rows, [{ status: "pending", locked_until: null }]);
  });

  test("bad arguments are refused", async () => {
    await assert.rejects(db.pool.query("select * from ticketing.rescue_orphaned_jobs(interval '0 seconds')"), {
      code: "TL422",
    });
    await assert.rejects(db.pool.query("select * from ticketing.rescue_orphaned_jobs(interval '30 seconds', -1)"), {
      code: "TL422",
    });
  });
});

describe("the lifeline plugin", () => {
  test("heartbeats with the worker-pool ids and running jobs it sees, and retires on stop", async () => {
    const events: WorkerEvents = new EventEmitter();
    const lifeline = startLifeline(
      { connectionString: db.url, log: createLogger("silent"), events },
      { heartbeatMs: 100, deadAfterMs: 1_000, rescueIntervalMs: 200 },
    );
    const emit = events.emit.bind(events) as (name: string, payload: unknown) => boolean;
    emit("pool:create", { workerPool: { id: "pool-plugin" } });
    emit("job:start", { job: { id: "41" } });
    emit("job:start", { job: { id: "42" } });
    emit("job:complete", { job: { id: "41" } });
    const row = await waitFor("a heartbeat with the pool and the running job", async () => {
      const { rows } = await db.pool.query(
        "select worker_ids, active_job_ids from ticketing.daemon_heartbeats where daemon_id = $1",
        [lifeline.daemonId],
      );
      const beat = rows[0];
      return beat?.worker_ids.includes("pool-plugin") && beat.active_job_ids.length === 1 ? beat : undefined;
    });
    assert.deepEqual(row, { worker_ids: ["pool-plugin"], active_job_ids: ["42"] });
    await lifeline.stop();
    const { rows } = await db.pool.query(
      "select last_seen_at = '-infinity' as retired from ticketing.daemon_heartbeats where daemon_id = $1",
      [lifeline.daemonId],
    );
    assert.deepEqual(rows, [{ retired: true }]);
  });

  test("jobs fetched into graphile-worker's local queue count as held until they run or are handed back", async () => {
    const events: WorkerEvents = new EventEmitter();
    const lifeline = startLifeline(
      { connectionString: db.url, log: createLogger("silent"), events },
      { heartbeatMs: 100, deadAfterMs: 1_000, rescueIntervalMs: 200 },
    );
    const emit = events.emit.bind(events) as (name: string, payload: unknown) => boolean;
    const held = async (expected: string[]) =>
      waitFor(`a heartbeat holding ${expected.join(", ")}`, async () => {
        const { rows } = await db.pool.query<{ active_job_ids: string[] }>(
          "select active_job_ids from ticketing.daemon_heartbeats where daemon_id = $1",
          [lifeline.daemonId],
        );
        const ids = [...(rows[0]?.active_job_ids ?? [])].sort();
        return JSON.stringify(ids) === JSON.stringify(expected) ? ids : undefined;
      });
    emit("pool:create", { workerPool: { id: "pool-local-queue" } });
    emit("localQueue:getJobs:complete", { jobs: [{ id: "61" }, { id: "62" }, { id: "63" }] });
    await held(["61", "62", "63"]);
    emit("job:start", { job: { id: "61" } });
    emit("job:complete", { job: { id: "61" } });
    emit("localQueue:returnJobs", { jobs: [{ id: "63" }] });
    await held(["62"]);
    await lifeline.stop();
  });
});

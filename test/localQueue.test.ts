// The runner's local queue: jobs fetched ahead are locked but not running yet. The lifeline must count them
// as this daemon's (not as leaked locks), and a shutdown must hand them back for the next daemon.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestDaemon, waitFor } from "./support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "./support/database.ts";
import { createOrder } from "./support/fixtures.ts";
import { startHttpStub } from "./support/httpStub.ts";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
});

interface RefundJob {
  id: string;
  locked_by: string | null;
  locked_at: Date | null;
}

async function refundJobs(): Promise<RefundJob[]> {
  const { rows } = await db.pool.query<RefundJob>(
    "select id, locked_by, locked_at from graphile_worker.jobs where task_identifier = 'ticket_refund_requested' order by id",
  );
  return rows;
}

test("jobs waiting in the local queue are held, not leaked; a shutdown hands them back", async () => {
  // The first refund call takes long: one worker runs it while the other four wait in the local queue.
  const refundService = await startHttpStub((_request, index) => ({
    status: 200,
    body: { target_status: "refunded" },
    delayMs: index === 0 ? 12_000 : 0,
  }));
  after(() => refundService.close());
  const { ticketIds } = await createOrder(db.pool, 5);
  const env = { WORKER_CONCURRENCY: "1", WORKER_LOCAL_QUEUE_SIZE: "10", REFUND_SERVICE_URL: refundService.url };
  const daemon = await startTestDaemon(db, env);
  try {
    // One transaction: the runner's next fetch takes all five into its local queue.
    await db.pool.query("select ticketing.request_refund(t, 'queued-' || t) from unnest($1::bigint[]) t", [ticketIds]);
    await waitFor("the first refund call in flight", async () => refundService.requests.length === 1);
    const held = await refundJobs();
    assert.equal(held.length, 5);
    assert.ok(
      held.every((job) => job.locked_by !== null),
      "all five are locked: one running, four in the local queue",
    );

    // A heartbeat written at least a second after the last lock: with a one-second threshold, any of those
    // jobs missing from it would count as a lock leaked by a live daemon.
    const lastLock = Math.max(...held.map((job) => (job.locked_at as Date).getTime()));
    const beat = await waitFor("a heartbeat a second after the locks", async () => {
      const { rows } = await db.pool.query<{ active_job_ids: string[] }>(
        "select active_job_ids from ticketing.daemon_heartbeats where last_seen_at > $1::timestamptz + interval '1 second'",
        [new Date(lastLock)],
      );
      return rows[0];
    });
    assert.deepEqual([...beat.active_job_ids].sort(), held.map((job) => job.id).sort());
    const { rows: rescued } = await db.pool.query("select * from ticketing.rescue_orphaned_jobs(interval '1 second')");
    assert.deepEqual(rescued, [], "nothing of a live daemon's local queue is rescued");
    assert.deepEqual(
      (await refundJobs()).map((job) => job.locked_by !== null),
      [true, true, true, true, true],
    );
  } finally {
    await daemon.stop();
  }

  // Nothing stays locked: the four that waited (and the running one, its call cut off by the shutdown) are
  // unlocked, left for the next daemon.
  const left = await refundJobs();
  assert.ok(left.length >= 4, JSON.stringify(left));
  assert.ok(
    left.every((job) => job.locked_by === null),
    JSON.stringify(left),
  );

  const next = await startTestDaemon(db, env);
  try {
    await waitFor("the next daemon to apply the four", async () => {
      const { rows } = await db.pool.query<{ n: number }>(
        "select count(*)::int as n from ticketing.tickets where id = any($1::bigint[]) and status = 'refunded'",
        [ticketIds],
      );
      return rows[0]?.n === 5;
    });
  } finally {
    await next.stop();
  }
});

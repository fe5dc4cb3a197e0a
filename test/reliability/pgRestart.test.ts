// PostgreSQL restart under a running daemon. This file owns its server (a cluster in .data/reliability/),
// stops it while refund requests keep arriving, and starts it again: the daemon never exits, /readyz says
// false while the server is away, both LISTEN connections come back by themselves, requests made after the
// restart are processed at once, and every request ever accepted ends applied exactly once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { queueSweep } from "../../src/sql/queueSweep.ts";
import { waitFor } from "../support/daemon.ts";
import {
  bookkeepingViolations,
  isRunning,
  lockedJobs,
  type OwnServer,
  readyz,
  scalar,
  startCliDaemon,
  startOwnServer,
} from "../support/reliability.ts";

let own: OwnServer;
before(async () => {
  own = await startOwnServer("pg-restart");
});
after(async () => {
  await own.destroy();
});

const TICKETS = 600;

test("stop and start the server under a running daemon: it reconnects by itself, nothing is lost or done twice", async () => {
  await own.pool.query("insert into ticketing.orders (id) select g from generate_series(1, $1::int / 2) g", [TICKETS]);
  await own.pool.query(
    "insert into ticketing.tickets (id, order_id, valid_end) select g, (g + 1) / 2, now() + interval '1 day' from generate_series(1, $1::int) g",
    [TICKETS],
  );
  let nextTicket = 1;
  const requestRefund = async () => {
    const ticket = nextTicket++;
    try {
      await own.pool.query("select ticketing.request_refund($1, $2)", [ticket, `refund-${ticket}`]);
      return true;
    } catch {
      return false;
    }
  };
  const refunded = (upTo: number) =>
    scalar<number>(own.pool, "select count(*)::int from ticketing.tickets where status = 'refunded' and id <= $1", [
      upTo,
    ]);

  const daemon = await startCliDaemon(own.url);
  try {
    for (let i = 0; i < 20; i++) await requestRefund();
    await waitFor("the first requests applied", async () => (await refunded(20)) === 20);

    // Requests keep coming, one every 20 ms, before, during and after the outage.
    let producing = true;
    let refused = 0;
    const producer = (async () => {
      while (producing && nextTicket <= TICKETS - 100) {
        if (!(await requestRefund())) refused += 1;
        await sleep(20);
      }
    })();
    await sleep(1_000);
    await own.stopServer();
    await waitFor("/readyz to say not ready", async () => !(await readyz(daemon.httpPort)), 15_000);
    await sleep(5_000);
    assert.ok(isRunning(daemon), "the daemon is still running with its database gone");
    assert.equal(await readyz(daemon.httpPort), false);
    await own.startServer();
    await sleep(2_000);
    producing = false;
    await producer;
    assert.ok(refused > 0, "some requests were refused while the server was down");

    await waitFor("/readyz to say ready again", () => readyz(daemon.httpPort), 60_000);
    await waitFor(
      "graphile-worker's and the outbox dispatcher's LISTEN connections to be back",
      async () => {
        const { rows } = await own.pool.query<{ query: string }>(
          "select query from pg_stat_activity where datname = current_database() and query ilike 'listen%'",
        );
        return (
          rows.some((r) => r.query.includes('"jobs:insert"')) && rows.some((r) => /ticketing_outbox/i.test(r.query))
        );
      },
      60_000,
    );

    // Made after the restart: processed at once, as if nothing had happened.
    const firstAfter = nextTicket;
    for (let i = 0; i < 20; i++) assert.ok(await requestRefund());
    await waitFor(
      "the requests made after the restart",
      async () =>
        (await scalar<number>(
          own.pool,
          "select count(*)::int from ticketing.tickets where status = 'refunded' and id >= $1",
          [firstAfter],
        )) === 20,
      30_000,
    );
    // A sweep after the restart, too.
    await own.pool.query("insert into ticketing.orders (id) values (1000000)");
    await own.pool.query(
      "insert into ticketing.tickets (id, order_id, valid_end) select g, 1000000, now() - interval '1 minute' from generate_series(1000001, 1000050) g",
    );
    await queueSweep(own.pool);
    await waitFor(
      "the sweep after the restart",
      async () =>
        (await scalar<number>(own.pool, "select status from ticketing.orders where id = 1000000")) ===
        ("completed" as unknown),
    );

    // Every request the database ever accepted — including the ones whose job was cut off by the stop,
    // which the refund job re-drives once their lease runs out — ends applied, exactly once.
    await waitFor(
      "every accepted request applied",
      async () =>
        (await scalar<number>(
          own.pool,
          "select count(*)::int from ticketing.ticket_requests where status <> 'succeeded'",
        )) === 0,
      300_000,
    );
    const { rows } = await own.pool.query(`
      select (select count(*)::int from ticketing.ticket_requests) as requests,
             (select count(*)::int from ticketing.tickets where status = 'refunded') as refunded,
             (select count(*)::int from ticketing.ticket_status_audit where new_status = 'refunded') as audit,
             (select count(*)::int from ticketing.outbox where type = 'ticket.refunded') as events`);
    const { requests } = rows[0];
    assert.ok(requests > 40);
    assert.deepEqual(rows[0], { requests, refunded: requests, audit: requests, events: requests });
    assert.deepEqual(await bookkeepingViolations(own.pool), []);
    // A job whose completion the restart cut off stays locked by this live daemon until the lifeline
    // calls the lock leaked: 30 s after its last heartbeat, found by a rescue round every 10 s.
    await waitFor("no job left locked", async () => (await lockedJobs(own.pool)) === 0, 60_000);
    assert.ok(isRunning(daemon), "the daemon never exited");
  } finally {
    assert.equal(await daemon.stop(), 0, daemon.lines.slice(-30).join("\n"));
  }
});

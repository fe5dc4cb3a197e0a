// The race matrix: redemption, refund, change and expiry on the same tickets at the same instant, round
// after round. Whatever wins, there is exactly one terminal transition per ticket, the audit and the final
// status agree, and every loser gets a clear rejection: TL409 for a redemption, a failed request whose
// error names the refused transition for a refund or a change, a skipped ticket for the sweep.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type pg from "pg";
import { queueSweep } from "../../src/sql/queueSweep.ts";
import { startTestDaemon, waitFor } from "../support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrder } from "../support/fixtures.ts";
import { startHttpStub } from "../support/httpStub.ts";
import { atOnce, bookkeepingViolations, type RacingCall, scalar } from "../support/reliability.ts";

let db: TestDatabase;
let racers: pg.Pool;
before(async () => {
  db = await createTestDatabase();
  racers = db.openPool(50);
});
after(() => db.drop());

/** A deadlock or serialization failure is retried, as every caller of the API must. */
const RETRYABLE = new Set(["40P01", "40001"]);

const auditOf = async (ticketId: number) =>
  (
    await db.pool.query<{ new_status: string; event_id: string }>(
      "select new_status, event_id from ticketing.ticket_status_audit where ticket_id = $1 order by seq",
      [ticketId],
    )
  ).rows;

describe("at the SQL entry points", () => {
  const ROUNDS = 30;
  const TICKETS = 10;

  test(`${ROUNDS} rounds of ${TICKETS} tickets, each raced by redeem_ticket, the refund decision, the change's first step and a sweep batch`, async () => {
    const wins = { redeem: 0, refund: 0, change: 0, expire: 0 };
    for (let round = 1; round <= ROUNDS; round++) {
      const tickets: number[] = [];
      for (let o = 0; o < TICKETS / 2; o++)
        tickets.push(...(await createOrder(db.pool, 2, "now() - interval '1 second'")).ticketIds);
      for (const t of tickets) {
        await db.pool.query("select ticketing.request_refund($1, $2)", [t, `race-refund-${t}`]);
        await db.pool.query(
          "select ticketing.request_change($1, $2, jsonb_build_object('valid_end', now() + interval '1 day'))",
          [t, `race-change-${t}`],
        );
      }
      const calls: RacingCall[] = tickets.flatMap((t) => [
        {
          text: "select ticketing.redeem_ticket($1, $2) as r",
          values: [t, `race-redeem-${t}`],
          role: "ticketing_client",
        },
        {
          text: "select outcome as r from ticketing.apply_decision($1, null, 'refunded', null, '{}')",
          values: [`race-refund-${t}`],
        },
        { text: "select ticketing.begin_request($1, null) as r", values: [`race-change-${t}`] },
      ]);
      calls.push({ text: "select * from ticketing.expire_batch(1000) as r", values: [] });
      const results = await atOnce(racers, calls, RETRYABLE);

      for (const [i, t] of tickets.entries()) {
        const [redeem, refund, change] = results.slice(i * 3, i * 3 + 3);
        const audit = await auditOf(t);
        assert.equal(audit.length, 1, `ticket ${t}: exactly one transition, got ${JSON.stringify(audit)}`);
        const winner = audit[0] as { new_status: string; event_id: string };
        const status = await scalar<string>(db.pool, "select status from ticketing.tickets where id = $1", [t]);
        assert.equal(status, winner.new_status, `ticket ${t}: final status agrees with the audit`);
        const requests = await db.pool.query<{ kind: string; status: string; error: string | null }>(
          "select kind, status, error from ticketing.ticket_requests where ticket_id = $1",
          [t],
        );
        const request = (kind: string) => requests.rows.find((r) => r.kind === kind);

        const redeemWon = redeem?.ok === true && redeem.r === "applied";
        const refundWon = refund?.ok === true && refund.r === "succeeded";
        const changeWon = change?.ok === true && change.r === "applied";
        const expireWon = winner.event_id === "expire";
        assert.equal([redeemWon, refundWon, changeWon, expireWon].filter(Boolean).length, 1, `ticket ${t}: one winner`);
        wins.redeem += Number(redeemWon);
        wins.refund += Number(refundWon);
        wins.change += Number(changeWon);
        wins.expire += Number(expireWon);

        if (!redeemWon) {
          assert.equal(redeem?.ok, false);
          assert.equal(redeem?.ok === false && redeem.code, "TL409");
          assert.match(
            redeem?.ok === false ? redeem.message : "",
            new RegExp(`ticket ${t}: transition ${winner.new_status} -> used is not allowed`),
          );
        }
        if (!refundWon) {
          assert.deepEqual(refund?.ok && refund.r, "rejected");
          assert.equal(request("refund")?.status, "failed");
          assert.match(
            request("refund")?.error ?? "",
            new RegExp(`refuses ${winner.new_status} -> refunded for ticket ${t}`),
          );
        }
        if (!changeWon) {
          assert.deepEqual(change?.ok && change.r, "rejected");
          assert.equal(request("change")?.status, "failed");
          assert.match(
            request("change")?.error ?? "",
            new RegExp(`refuses ${winner.new_status} -> changing for ticket ${t}`),
          );
        }
      }
    }
    assert.deepEqual(await bookkeepingViolations(db.pool), []);
    assert.equal(
      Object.values(wins).reduce((a, b) => a + b),
      ROUNDS * TICKETS,
    );
    // A race that one contender always wins would prove nothing.
    assert.ok(Object.values(wins).filter((n) => n > 0).length >= 3, `winners were spread: ${JSON.stringify(wins)}`);
  });
});

describe("through the daemon", () => {
  const ROUNDS = 4;
  const TICKETS = 10;

  test(`${ROUNDS} rounds: redemptions at the gate while refund and change requests and a sweep run as jobs`, async () => {
    const refundService = await startHttpStub(() => ({
      status: 200,
      body: { target_status: "refunded" },
      delayMs: Math.floor(Math.random() * 30),
    }));
    const daemon = await startTestDaemon(db, {
      WORKER_CONCURRENCY: "8",
      LOG_LEVEL: "info",
      REFUND_SERVICE_URL: refundService.url,
    });
    try {
      const all: number[] = [];
      const redeemLosers: Array<{ ticket: number; code?: string; message: string }> = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const tickets: number[] = [];
        for (let o = 0; o < TICKETS / 2; o++)
          tickets.push(...(await createOrder(db.pool, 2, "now() - interval '1 second'")).ticketIds);
        all.push(...tickets);
        // The change re-issues the ticket with a validity already past, so the last sweep settles it too.
        const changeMeta = JSON.stringify({ valid_end: new Date(Date.now() - 60_000).toISOString() });
        const calls: RacingCall[] = tickets.flatMap((t) => [
          {
            text: "select ticketing.redeem_ticket($1, $2) as r",
            values: [t, `daemon-redeem-${t}`],
            role: "ticketing_client",
          },
          {
            text: "select ticketing.request_refund($1, $2) as r",
            values: [t, `daemon-refund-${t}`],
            role: "ticketing_client",
          },
          {
            text: "select ticketing.request_change($1, $2, $3::jsonb) as r",
            values: [t, `daemon-change-${t}`, changeMeta],
            role: "ticketing_client",
          },
        ]);
        calls.push({
          text: "select ticketing.queue_sweep() as r",
          values: [],
        });
        const results = await atOnce(racers, calls, RETRYABLE);
        for (const [i, t] of tickets.entries()) {
          const redeem = results[i * 3];
          if (redeem?.ok === false) redeemLosers.push({ ticket: t, code: redeem.code, message: redeem.message });
          else assert.equal(redeem?.r, "applied");
        }
        await waitFor(
          `round ${round}: every request finished`,
          async () =>
            (await scalar<number>(
              db.pool,
              "select count(*)::int from ticketing.ticket_requests where ticket_id = any($1) and status = 'pending'",
              [tickets],
            )) === 0,
          60_000,
        );
      }
      // Tickets a change re-issued are usable again, with a validity already past: one more sweep.
      await queueSweep(db.pool);
      await waitFor(
        "every ticket settled",
        async () =>
          (await scalar<number>(
            db.pool,
            "select count(*)::int from ticketing.tickets t join ticketing.ticket_statuses s using (status) where t.id = any($1) and not s.terminal",
            [all],
          )) === 0,
        60_000,
      );

      for (const t of all) {
        const audit = await auditOf(t);
        const terminal = audit.filter((a) => ["used", "refunded", "expired"].includes(a.new_status));
        assert.equal(terminal.length, 1, `ticket ${t}: exactly one terminal transition: ${JSON.stringify(audit)}`);
        const status = await scalar<string>(db.pool, "select status from ticketing.tickets where id = $1", [t]);
        assert.equal(status, audit.at(-1)?.new_status);
        const { rows: requests } = await db.pool.query<{ kind: string; status: string; error: string | null }>(
          "select kind, status, error from ticketing.ticket_requests where ticket_id = $1",
          [t],
        );
        for (const r of requests) {
          if (r.status === "failed")
            assert.match(r.error ?? "", /state machine refuses \w+ -> \w+ for ticket \d+/, `ticket ${t} ${r.kind}`);
          else assert.equal(r.status, "succeeded");
        }
        const refund = requests.find((r) => r.kind === "refund");
        assert.equal(
          refund?.status === "succeeded",
          status === "refunded",
          `ticket ${t}: the refund succeeded iff the ticket is refunded`,
        );
      }
      for (const loser of redeemLosers) {
        assert.equal(loser.code, "TL409");
        assert.match(loser.message, new RegExp(`ticket ${loser.ticket}: transition \\w+ -> used is not allowed`));
      }
      const failed = await scalar<number>(
        db.pool,
        "select count(*)::int from ticketing.ticket_requests where ticket_id = any($1) and status = 'failed'",
        [all],
      );
      const alerts = await scalar<number>(
        db.pool,
        "select count(*)::int from ticketing.alerts a join ticketing.ticket_requests r on a.key = 'request_rejected:' || r.event_id where r.ticket_id = any($1)",
        [all],
      );
      assert.equal(alerts, failed, "every rejected request raised its alert");
      assert.deepEqual(await bookkeepingViolations(db.pool), []);
      assert.equal(await daemon.ready(), true);
    } finally {
      await daemon.stop();
      await refundService.close();
    }
  });
});

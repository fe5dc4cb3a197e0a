// notification-orchestrator down for minutes while events keep piling up (a sweep's burst, then a steady
// trickle of redemptions). Nothing is published before a 2xx; after recovery every event is delivered,
// at least once, one ticket's events in order; none is lost. Real time, no faked clock: the outage lasts
// RELIABILITY_SINK_DOWN_SECONDS (default 180; CI may shorten it).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { queueSweep } from "../../src/sql/queueSweep.ts";
import { startTestDaemon, type TestDaemon, waitFor } from "../support/daemon.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createOrder } from "../support/fixtures.ts";
import { startHttpStub } from "../support/httpStub.ts";
import { scalar, seedExpiredOrders } from "../support/reliability.ts";

const DOWN_SECONDS = Number(process.env.RELIABILITY_SINK_DOWN_SECONDS ?? 180);

let db: TestDatabase;
let daemon: TestDaemon;
let sink: Awaited<ReturnType<typeof startHttpStub>>;
let up = false;
/** Event ids in the order the sink acknowledged them (2xx), repeats included. */
const acknowledged: string[] = [];
let refused = 0;

before(async () => {
  db = await createTestDatabase();
  sink = await startHttpStub((request) => {
    const eventId = request.headers["webhook-id"];
    if (!up || typeof eventId !== "string") {
      refused += 1;
      return { status: 503 };
    }
    acknowledged.push(eventId);
    return { status: 200 };
  });
  daemon = await startTestDaemon(db, { NOTIFICATION_URL: sink.url, LOG_LEVEL: "info" });
});
after(async () => {
  await daemon.stop();
  await sink.close();
  await db.drop();
});

test(`the sink down for ${DOWN_SECONDS} s while events pile up: all delivered after recovery, none lost`, {
  timeout: (DOWN_SECONDS * 3 + 180) * 1000,
}, async () => {
  // A burst: a sweep of 2,000 tickets (2,000 ticket events and 500 order events) right at the start.
  await seedExpiredOrders(db.pool, 500, 4, 1_000_000);
  await queueSweep(db.pool);
  // Then a trickle for the whole outage: an order of two tickets redeemed every second.
  const downUntil = Date.now() + DOWN_SECONDS * 1000;
  let trickle = 0;
  while (Date.now() < downUntil) {
    const { ticketIds } = await createOrder(db.pool, 2);
    for (const t of ticketIds) await db.pool.query("select ticketing.redeem_ticket($1, $2)", [t, `gate-${t}`]);
    trickle += 1;
    await sleep(1_000);
  }
  const total = await scalar<number>(db.pool, "select count(*)::int from ticketing.outbox");
  assert.ok(total >= 2_500 + trickle * 3, `events piled up: ${total}`);
  assert.equal(
    await scalar<number>(db.pool, "select count(*)::int from ticketing.outbox where published_at is not null"),
    0,
    "nothing published before a 2xx",
  );
  assert.ok(refused > 0, "the dispatcher kept trying during the outage");
  assert.equal(await daemon.ready(), true, "a dead sink does not make the daemon unready");

  up = true;
  const recoveredAt = Date.now();
  await waitFor(
    "every event delivered",
    async () =>
      (await scalar<number>(db.pool, "select count(*)::int from ticketing.outbox where published_at is null")) === 0,
    (DOWN_SECONDS * 1.5 + 120) * 1000,
  );
  const recoverySeconds = (Date.now() - recoveredAt) / 1000;

  const { rows: events } = await db.pool.query<{
    event_id: string;
    ticket_id: string | null;
    seq: string | null;
    attempts: number;
  }>("select event_id, ticket_id, seq, attempts from ticketing.outbox order by id");
  const delivered = new Set(acknowledged);
  const lost = events.filter((e) => !delivered.has(e.event_id));
  assert.deepEqual(
    lost.map((e) => e.event_id),
    [],
    "every event acknowledged at least once",
  );
  assert.equal(delivered.size, events.length, "and nothing else was sent");
  assert.ok(
    events.every((e) => e.attempts >= 1),
    "every event counts its failed attempts",
  );

  // Per ticket, the first acknowledgements follow seq.
  const firstAck = new Map<string, number>();
  acknowledged.forEach((id, i) => {
    if (!firstAck.has(id)) firstAck.set(id, i);
  });
  const byTicket = new Map<string, Array<{ seq: number; at: number }>>();
  for (const e of events) {
    if (e.ticket_id === null) continue;
    const list = byTicket.get(e.ticket_id) ?? [];
    list.push({ seq: Number(e.seq), at: firstAck.get(e.event_id) as number });
    byTicket.set(e.ticket_id, list);
  }
  for (const [ticket, list] of byTicket) {
    const inAckOrder = [...list].sort((a, b) => a.at - b.at).map((x) => x.seq);
    assert.deepEqual(
      inAckOrder,
      [...inAckOrder].sort((a, b) => a - b),
      `ticket ${ticket}'s events delivered in seq order`,
    );
  }
  assert.ok(recoverySeconds < DOWN_SECONDS * 1.5 + 120, `recovered in ${recoverySeconds} s`);
});

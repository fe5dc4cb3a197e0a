// `ticket-lifecycle refund --orders FILE|--tickets FILE --event-id ID [--dry-run]`: an event cancellation.
// FILE holds one id per line (`-`: stdin). The dry run says how many tickets would be refunded and why the
// others cannot be, writing nothing; the real run records the bulk, prints its outcomes, then follows its
// progress on stderr until every request is finished (Ctrl-C stops watching, not the bulk).

import { readFileSync } from "node:fs";
import { migrate } from "../db/migrate.ts";
import { type Database, openDatabase } from "../db/openDatabase.ts";
import { classifyError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { bulkOfRequest } from "../sql/bulkOfRequest.ts";
import { bulkRefundProgress } from "../sql/bulkRefundProgress.ts";
import { type RefundOutcome, type RefundTarget, requestRefunds } from "../sql/requestRefunds.ts";
import type { CommandContext } from "./commandContext.ts";
import { decimalId } from "./decimalId.ts";

class UsageError extends Error {}

/** One id per line, blank lines skipped; kept as the decimal text it was written as. */
export function parseIds(text: string, source: string): string[] {
  const ids: string[] = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line) continue;
    const parsed = decimalId.safeParse(line);
    if (!parsed.success)
      throw new UsageError(`${source} line ${index + 1}: ${JSON.stringify(line)} ${parsed.error.issues[0]?.message}`);
    ids.push(parsed.data);
  }
  if (!ids.length) throw new UsageError(`${source} holds no id`);
  return ids;
}

/** "queued 3, duplicate 1" style counts, in a stable order. */
function countOutcomes(outcomes: RefundOutcome[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { outcome } of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  return new Map([...counts].sort(([a], [b]) => a.localeCompare(b)));
}

function cannotLines(counts: Map<string, number>): string[] {
  return [...counts].filter(([o]) => o !== "queued" && o !== "duplicate").map(([o, n]) => `  ${o}: ${n}`);
}

export async function refundCommand({ env, log, dryRun: dryRunOnly, options }: CommandContext): Promise<number> {
  const text = (name: string) => (typeof options[name] === "string" ? (options[name] as string) : undefined);
  const [orders, tickets, eventId] = [text("orders"), text("tickets"), text("event-id")];
  if ((orders === undefined) === (tickets === undefined) || !eventId) {
    console.error("usage: ticket-lifecycle refund --orders FILE|--tickets FILE --event-id ID [--dry-run]");
    return 2;
  }
  const target: RefundTarget = orders !== undefined ? "orders" : "tickets";
  const file = (orders ?? tickets) as string;
  let ids: string[];
  try {
    ids = parseIds(readFileSync(file === "-" ? 0 : file, "utf8"), file === "-" ? "stdin" : file);
  } catch (error) {
    console.error(`ticket-lifecycle refund: ${(error as Error).message}`);
    return 2;
  }

  const db = await openDatabase(env, log, 2);
  try {
    return await (dryRunOnly ? dryRun(db, { target, ids, eventId }) : refund(db, log, { target, ids, eventId }));
  } catch (error) {
    // A refusal (TL422: too many ids, a bad event id, ...; errors.ts) is the answer, in one line.
    if (classifyError(error) !== "refused") throw error;
    console.error(`ticket-lifecycle refund: ${(error as Error).message}`);
    return 1;
  } finally {
    await db.close();
  }
}

interface Plan {
  target: RefundTarget;
  ids: string[];
  eventId: string;
}

async function dryRun(db: Database, { target, ids, eventId }: Plan): Promise<number> {
  const counts = countOutcomes(await requestRefunds(db.pool, "plan", target, ids, eventId));
  const cannot = cannotLines(counts);
  const cannotCount = [...counts].reduce((n, [o, c]) => (o === "queued" || o === "duplicate" ? n : n + c), 0);
  console.log(`dry run, nothing written: ${counts.get("queued") ?? 0} ticket(s) would be refunded`);
  if (counts.get("duplicate")) console.log(`${counts.get("duplicate")} already requested by event ${eventId}`);
  console.log(`${cannotCount} cannot be refunded${cannot.length ? ":" : ""}`);
  for (const line of cannot) console.log(line);
  return 0;
}

async function refund(db: Database, log: Logger, { target, ids, eventId }: Plan): Promise<number> {
  await migrate(db.pool, db.connectionString, log);
  const outcomes = await requestRefunds(db.pool, "request", target, ids, eventId);
  const counts = countOutcomes(outcomes);
  const firstQueued = outcomes.find((o) => o.outcome === "queued")?.ticketId;
  const bulkId = firstQueued ? await bulkOfRequest(db.pool, eventId, firstQueued) : undefined;
  console.log(
    bulkId
      ? `bulk refund ${bulkId} (event ${eventId}): ${counts.get("queued")} refund request(s) queued`
      : `nothing queued for event ${eventId}`,
  );
  if (counts.get("duplicate")) console.log(`${counts.get("duplicate")} already requested by event ${eventId}`);
  const cannot = cannotLines(counts);
  if (cannot.length) console.log(`cannot be refunded:\n${cannot.join("\n")}`);
  if (!bulkId) return 0;

  for (;;) {
    const [progress] = await bulkRefundProgress(db.pool, [bulkId]);
    if (!progress) return 0;
    const { requested, done, failed, remaining } = progress;
    console.error(
      `bulk refund ${bulkId}: ${done + failed}/${requested} (done ${done}, failed ${failed}, remaining ${remaining})`,
    );
    if (progress.finished) {
      console.log(`bulk refund ${bulkId} finished: ${done} refunded, ${failed} failed`);
      return 0;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

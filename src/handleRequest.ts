// The card's ticket.refund.requested / ticket.change.requested consumers (§5.2). The request row is the
// meeting point of raw add_job calls and the SQL API: whoever arrives first records it, one worker at a
// time holds its lease (proved by the lease's token) while the rule service decides, and the decision is applied
// in one transaction by ticketing.apply_decision. Without a service (built-in approve policy) all of it is one
// transaction. Whatever fails, the last attempt ends the request: failed, with its reason and an alert.
import type { Task } from "graphile-worker";
import { z } from "zod";
import { type RequestKind, RuleRejected } from "./adapters/ruleService.ts";
import { bigintId } from "./bigintId.ts";
import { formatZodError } from "./config/formatZodError.ts";
import type { TaskDeps } from "./deps.ts";
import { classifyError } from "./errors.ts";
import { applyDecision } from "./sql/applyDecision.ts";
import { approveRequest } from "./sql/approveRequest.ts";
import { beginChange } from "./sql/beginChange.ts";
import { claimRequest } from "./sql/claimRequest.ts";
import { failRequest } from "./sql/failRequest.ts";
import { giveUpRequest } from "./sql/giveUpRequest.ts";
import { recordBadRequest } from "./sql/recordBadRequest.ts";
import { releaseRequest } from "./sql/releaseRequest.ts";
import { logDroppedPayload } from "./taskDefinition.ts";

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Text PostgreSQL cannot store (a NUL character, half of a UTF-16 surrogate pair), anywhere in the value:
 * such input fails the same way however often it is retried.
 */
function unstorable(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\u0000") || LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.some(unstorable);
  if (value !== null && typeof value === "object")
    return Object.entries(value).some(([key, v]) => unstorable(key) || unstorable(v));
  return false;
}

const eventIdSchema = z
  .string()
  .min(1)
  .max(200)
  .refine((id) => !unstorable(id), "contains a NUL character or a lone surrogate");

export const requestPayload = z.object({
  ticket_id: bigintId,
  event_id: eventIdSchema,
  meta: z
    .record(z.string(), z.unknown())
    .default({})
    .refine((meta) => !unstorable(meta), "contains a NUL character or a lone surrogate")
    .refine((meta) => Buffer.byteLength(JSON.stringify(meta)) <= 16384, "meta is larger than 16384 bytes"),
});

/** Lease on a request while its service call runs; a crashed worker's request is re-driven after it. */
const LEASE_SECONDS = 120;

export function requestTask(kind: RequestKind, deps: TaskDeps): Task {
  const failed = () => {
    deps.metrics.requestsFinished.inc({ kind, outcome: "failed" });
    if (kind === "change") deps.metrics.changeFailed.inc();
  };
  const succeeded = () => {
    deps.metrics.requestsFinished.inc({ kind, outcome: "succeeded" });
    if (kind === "refund") deps.metrics.refundSucceeded.inc();
  };
  const ordersSettled = (completed: number, cancelled: number) => {
    deps.metrics.ordersCompleted.inc(completed);
    deps.metrics.ordersCancelled.inc(cancelled);
  };

  return async (rawPayload, helpers) => {
    const log = deps.log.child({ task: `ticket_${kind}_requested`, jobId: helpers.job.id });
    const parsed = requestPayload.safeParse(rawPayload);
    if (!parsed.success) {
      // A bad key named in the reason may itself be unstorable text; the reason must fit in the request row.
      const reason = `invalid payload: ${formatZodError(parsed.error)}`
        .replaceAll("\u0000", "")
        .replace(new RegExp(LONE_SURROGATE, "g"), "\ufffd");
      const ids = z.object({ ticket_id: bigintId, event_id: eventIdSchema }).safeParse(rawPayload);
      if (ids.success) await recordBadRequest(deps.pool, kind, ids.data.ticket_id, ids.data.event_id, reason);
      logDroppedPayload(log, reason, { kind, ticketId: ids.data?.ticket_id, eventId: ids.data?.event_id });
      failed();
      return;
    }
    const { ticket_id: ticketId, event_id: eventId, meta } = parsed.data;
    const ids = { ticketId, eventId, kind };
    const notClaimed = (outcome: string, status?: string) => {
      if (outcome === "mismatch") log.error(ids, "event_id already belongs to another request; job dropped");
      else log.info({ ...ids, outcome, status }, "request already handled or being handled");
    };
    const leaseLost = () => log.warn(ids, "lease ran out and another worker took the request; leaving it to that one");
    const fail = async (leaseToken: string, reason: string, alert: boolean) => {
      if (!(await failRequest(deps.pool, eventId, leaseToken, reason, alert))) return leaseLost();
      failed();
      log.error({ ...ids, reason, ...(alert ? { alert: "request_rejected" } : {}) }, "request failed");
    };
    const lastAttempt = helpers.job.attempts >= helpers.job.max_attempts;
    const gaveUp = (message: string) => `gave up after ${helpers.job.attempts} attempts: ${message}`;
    const decided = (outcome: "succeeded" | "rejected" | "finished", targetStatus: string) => {
      if (outcome === "succeeded") {
        succeeded();
        log.info({ ...ids, targetStatus }, "request applied");
      } else if (outcome === "rejected") {
        failed();
        log.error({ ...ids, targetStatus, alert: "request_rejected" }, "refused by the state machine; request failed");
      }
    };

    const decide = deps.decide[kind];
    if (!decide) {
      // The built-in approve policy: one transaction. Nothing is written when it fails, so a transient
      // error is simply retried; a refusal the same input will meet again is recorded and final.
      try {
        const result = await approveRequest(deps.pool, { kind, ticketId, eventId, meta });
        ordersSettled(result.completedOrders, result.cancelledOrders);
        if (result.outcome === "unknown") {
          failed();
          log.error({ ...ids, reason: `unknown ticket ${ticketId}` }, "request failed");
        } else if (result.outcome === "busy" || result.outcome === "mismatch") notClaimed(result.outcome);
        else decided(result.outcome, result.targetStatus);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (classifyError(error) === "refused") {
          const claim = await claimRequest(deps.pool, { kind, ticketId, eventId, meta }, LEASE_SECONDS);
          if (claim.outcome === "claimed" && claim.leaseToken)
            await fail(claim.leaseToken, `refused by the database: ${message}`, kind === "change");
          else notClaimed(claim.outcome, claim.status);
          return;
        }
        if (!lastAttempt) throw error;
        // Its transaction rolled back, so nothing records the failure unless this statement does.
        const reason = gaveUp(message);
        const outcome = await giveUpRequest(deps.pool, { kind, ticketId, eventId, meta }, reason);
        if (outcome !== "failed") return notClaimed(outcome);
        failed();
        log.error({ ...ids, reason, err: error, alert: "request_rejected" }, "request failed");
      }
      return;
    }

    const claim = await claimRequest(deps.pool, { kind, ticketId, eventId, meta }, LEASE_SECONDS);
    if (claim.outcome !== "claimed" || !claim.leaseToken) return notClaimed(claim.outcome, claim.status);
    const leaseToken = claim.leaseToken;
    if (claim.orderId === null) return fail(leaseToken, `unknown ticket ${ticketId}`, false);
    try {
      if (kind === "change") {
        const begun = await beginChange(deps.pool, eventId, leaseToken);
        if (begun === "rejected") return decided("rejected", "changing");
        if (begun === "finished") return;
      }
      const decision = await decide({
        event_id: eventId,
        kind,
        ticket_id: ticketId,
        order_id: claim.orderId,
        meta: claim.meta,
      });
      const { outcome, completedOrders, cancelledOrders } = await applyDecision(
        deps.pool,
        eventId,
        leaseToken,
        decision,
      );
      ordersSettled(completedOrders, cancelledOrders);
      decided(outcome, decision.target_status);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // A change refused after usable -> changing leaves the ticket changing: someone must look at it.
      if (error instanceof RuleRejected) return fail(leaseToken, message, kind === "change");
      if (classifyError(error) === "refused")
        return fail(leaseToken, `refused by the database: ${message}`, kind === "change");
      if (lastAttempt) return fail(leaseToken, gaveUp(message), true);
      if (!(await releaseRequest(deps.pool, eventId, leaseToken, message))) leaseLost();
      log.warn(
        { ...ids, attempt: helpers.job.attempts, maxAttempts: helpers.job.max_attempts, err: error },
        "request attempt failed; will retry",
      );
      throw error;
    }
  };
}

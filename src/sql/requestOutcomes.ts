// What each request function in SQL answers with, written once: the wrappers check the answers against these
// sets and the request task switches over them, so a new outcome in SQL is a compile error here, not a silent
// fall-through.

/** ticketing.claim_request: leased to the caller, already over, leased to another worker, event_id taken by
 * another request, or input that breaks a limit (the request is recorded as failed). */
export const CLAIM_OUTCOMES = ["claimed", "finished", "busy", "mismatch", "invalid"] as const;
export type ClaimOutcome = (typeof CLAIM_OUTCOMES)[number];

/** ticketing.approve_request: the claim's outcomes besides `claimed`, an unknown ticket, and the decision's. */
export const APPROVE_OUTCOMES = [
  "succeeded",
  "rejected",
  "unknown",
  "invalid",
  "finished",
  "busy",
  "mismatch",
] as const;
export type ApproveOutcome = (typeof APPROVE_OUTCOMES)[number];

/** ticketing.apply_decision (`finished`: the lease is no longer the caller's, or the request is over). */
export const APPLY_OUTCOMES = ["succeeded", "rejected", "finished"] as const;
export type ApplyOutcome = (typeof APPLY_OUTCOMES)[number];

/** ticketing.begin_request: the receipt step applied, already applied, refused, not the caller's, or none for
 * this kind. */
export const BEGIN_OUTCOMES = ["applied", "duplicate", "rejected", "finished", "none"] as const;
export type BeginOutcome = (typeof BEGIN_OUTCOMES)[number];

/** ticketing.give_up_request: failed with an alert, or the claim's outcome that kept it from doing so. */
export const GIVE_UP_OUTCOMES = ["failed", "finished", "busy", "mismatch", "invalid"] as const;
export type GiveUpOutcome = (typeof GIVE_UP_OUTCOMES)[number];

/** ticketing.refuse_request: failed without an alert, failed with one, or not the caller's to fail. */
export const REFUSE_OUTCOMES = ["failed", "alerted", "not_held"] as const;
export type RefuseOutcome = (typeof REFUSE_OUTCOMES)[number];

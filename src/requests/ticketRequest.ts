/**
 * The name of a row of ticketing.request_kinds ('refund', 'change', ...): the table, not this code, says which
 * kinds exist and what each one does.
 */
export type RequestKind = string;

/** One request as a job brings it: ids as decimal strings (bigint), meta as the job's payload has it. */
export interface TicketRequest {
  kind: RequestKind;
  ticketId: string;
  eventId: string;
  meta: Record<string, unknown>;
}

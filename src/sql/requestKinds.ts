import type { RequestKind } from "../requests/ticketRequest.ts";
import type { Queryable } from "./queryable.ts";

export interface RequestKindRow {
  kind: RequestKind;
  /** The graphile-worker task that consumes the kind's jobs. */
  taskIdentifier: string;
  targetStatus: string;
  /** Set on receipt, before the decision; null: no receipt step. */
  inFlightStatus: string | null;
}

/** The rows of ticketing.request_kinds, by kind. */
export async function requestKinds(db: Queryable): Promise<RequestKindRow[]> {
  const { rows } = await db.query<{
    kind: string;
    task_identifier: string;
    target_status: string;
    in_flight_status: string | null;
  }>("select kind, task_identifier, target_status, in_flight_status from ticketing.request_kinds order by kind");
  return rows.map((row) => ({
    kind: row.kind,
    taskIdentifier: row.task_identifier,
    targetStatus: row.target_status,
    inFlightStatus: row.in_flight_status,
  }));
}

// Consumer of ticket.refund.requested (card §5.2): payload {ticket_id, event_id, meta?}.
import type { Task } from "graphile-worker";
import type { TaskDeps } from "../src/deps.ts";
import { requestTask } from "../src/handleRequest.ts";

export const ticketRefundRequested = (deps: TaskDeps): Task => requestTask("refund", deps);

import type { TaskList } from "graphile-worker";
import { bulkRefund } from "../tasks/bulk_refund.ts";
import { checkOrder } from "../tasks/check_order.ts";
import { expireTickets } from "../tasks/expire_tickets.ts";
import { redriveRequestsTask } from "../tasks/redrive_requests.ts";
import ticketChangeRequested from "../tasks/ticket_change_requested.ts";
import ticketRefundRequested from "../tasks/ticket_refund_requested.ts";
import type { TaskDeps } from "./deps.ts";
import { taskFor } from "./taskDefinition.ts";

/** Every graphile-worker task the daemon runs, by the name other services enqueue it with. */
export function buildTaskList(deps: TaskDeps): TaskList {
  return {
    expire_tickets: expireTickets(deps),
    ticket_refund_requested: taskFor(ticketRefundRequested, deps),
    ticket_change_requested: taskFor(ticketChangeRequested, deps),
    redrive_requests: redriveRequestsTask(deps),
    check_order: checkOrder(deps),
    bulk_refund: bulkRefund(deps),
  };
}

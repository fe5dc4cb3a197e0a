// Consumer of ticket.refund.requested: payload {ticket_id, event_id, meta?}.
import { requestTask } from "../src/requests/requestTask.ts";

export default requestTask({ kind: "refund", identifier: "ticket_refund_requested" });

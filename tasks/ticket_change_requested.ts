// Consumer of ticket.change.requested: payload {ticket_id, event_id, meta?}; meta.valid_end is the re-issued
// ticket's validity when no change service is configured.
import { requestTask } from "../src/requests/requestTask.ts";

export default requestTask({ kind: "change", identifier: "ticket_change_requested" });

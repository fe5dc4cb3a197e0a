// Consumer of ticket.change.requested (card §5.2): payload {ticket_id, event_id, meta?}; meta.valid_end
// is the re-issued ticket's validity when no change service is configured.
import type { Task } from "graphile-worker";
import type { TaskDeps } from "../src/deps.ts";
import { requestTask } from "../src/handleRequest.ts";

export const ticketChangeRequested = (deps: TaskDeps): Task => requestTask("change", deps);

// Consumer of ticket.change.requested: payload {ticket_id, event_id, meta?}; meta.valid_end is the re-issued
// ticket's validity when no change service is configured.
import { z } from "zod";
import { requestTask } from "../src/handleRequest.ts";
import { defineTask } from "../src/taskDefinition.ts";

// The request flow parses its own payload (an invalid one is recorded on its request when the ids can be read).
export default defineTask({
  identifier: "ticket_change_requested",
  payload: z.unknown(),
  async run(payload, job) {
    await requestTask("change", job)(payload, job.helpers);
  },
});

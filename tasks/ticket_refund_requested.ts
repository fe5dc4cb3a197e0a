// Consumer of ticket.refund.requested: payload {ticket_id, event_id, meta?}.
import { z } from "zod";
import { requestTask } from "../src/handleRequest.ts";
import { defineTask } from "../src/taskDefinition.ts";

// The request flow parses its own payload (an invalid one is recorded on its request when the ids can be read).
export default defineTask({
  identifier: "ticket_refund_requested",
  payload: z.unknown(),
  async run(payload, job) {
    await requestTask("refund", job)(payload, job.helpers);
  },
});

// Card §5.4: one hour after a redemption, check whether the order reached its final state.
import type { Task } from "graphile-worker";
import { z } from "zod";
import { formatZodError } from "../src/config/formatZodError.ts";
import type { TaskDeps } from "../src/deps.ts";
import { bigintId, logDroppedPayload } from "../src/jobPayload.ts";
import { recomputeOrder } from "../src/sql/recomputeOrder.ts";

const payloadSchema = z.object({ order_id: bigintId });

export function checkOrder(deps: TaskDeps): Task {
  return async (rawPayload, helpers) => {
    const log = deps.log.child({ task: "check_order", jobId: helpers.job.id });
    const parsed = payloadSchema.safeParse(rawPayload);
    if (!parsed.success) {
      return logDroppedPayload(log, formatZodError(parsed.error));
    }
    const orderId = parsed.data.order_id;
    const { status, openTickets, completedNow, cancelledNow } = await recomputeOrder(deps.pool, orderId);
    if (completedNow) deps.metrics.ordersCompleted.inc();
    if (cancelledNow) deps.metrics.ordersCancelled.inc();
    if (status === null) log.warn({ orderId }, "order check: unknown order");
    else
      log.info(
        { orderId, status, openTickets },
        status === "open" ? "order check: order not final yet" : "order check: order final",
      );
  };
}

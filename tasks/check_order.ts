// One hour after a redemption (queued by ticketing.redeem_ticket): check whether the order reached its final
// state.
import { z } from "zod";
import { bigintId } from "../src/bigintId.ts";
import { recomputeOrder } from "../src/sql/recomputeOrder.ts";
import { defineTask } from "../src/taskDefinition.ts";

export default defineTask({
  identifier: "check_order",
  payload: z.object({ order_id: bigintId }),
  async run({ order_id: orderId }, { pool, metrics, log }) {
    const { status, openTickets, completedNow, cancelledNow } = await recomputeOrder(pool, orderId);
    if (completedNow) metrics.ordersCompleted.inc();
    if (cancelledNow) metrics.ordersCancelled.inc();
    if (status === null) log.warn({ orderId }, "order check: unknown order");
    else
      log.info(
        { orderId, status, openTickets },
        status === "open" ? "order check: order not final yet" : "order check: order final",
      );
  },
});

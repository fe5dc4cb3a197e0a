import { createHmac } from "node:crypto";

/**
 * The signature headers of one delivery attempt: HMAC-SHA256 with the shared secret over
 * "<unix seconds>.<raw body>". The timestamp is inside the signed text, so a receiver that rejects old
 * timestamps also rejects a captured request replayed later.
 */
export function signatureHeaders(secret: string, body: string, nowMs = Date.now()): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const digest = createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
  return { "x-ticketing-timestamp": timestamp, "x-ticketing-signature": `sha256=${digest}` };
}

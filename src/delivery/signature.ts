import { createHmac } from "node:crypto";

/** The HMAC key of a Standard Webhooks secret: the bytes its base64 after "whsec_" stands for. */
export function signingKey(secret: string): Buffer {
  return Buffer.from(secret.slice("whsec_".length), "base64");
}

/**
 * The Standard Webhooks headers of one delivery attempt: `webhook-id` is the event id (the same on every
 * retry, so a receiver deduplicates on it), `webhook-timestamp` is now in unix seconds and
 * `webhook-signature` is "v1," and the base64 HMAC-SHA256 of "<id>.<timestamp>.<body>". Each attempt
 * is signed afresh: a receiver that rejects old timestamps also rejects a captured request replayed later.
 */
export function signatureHeaders(
  key: Buffer | undefined,
  eventId: string,
  body: string,
  nowMs = Date.now(),
): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const headers: Record<string, string> = { "webhook-id": eventId, "webhook-timestamp": timestamp };
  if (key) {
    const digest = createHmac("sha256", key).update(`${eventId}.${timestamp}.${body}`).digest("base64");
    headers["webhook-signature"] = `v1,${digest}`;
  }
  return headers;
}

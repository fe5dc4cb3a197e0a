import { type Dispatcher, Pool } from "undici";
import { knobs } from "../config/knobs.ts";
import { describeNetworkError } from "../errors.ts";
import { httpTarget } from "../httpTarget.ts";
import type { OutboxEvent } from "../sql/claimEvents.ts";
import { signatureHeaders, signingKey } from "./signature.ts";

/**
 * A failed attempt says why: `gone` is a 410 (the receiver says the endpoint is no more: an alert), and
 * `retryAfterMs` is a 429's or 503's Retry-After, the soonest the receiver wants the next attempt.
 */
export type DeliveryResult = { ok: true } | { ok: false; error: string; gone?: boolean; retryAfterMs?: number };

export interface HttpSink {
  deliver(event: OutboxEvent): Promise<DeliveryResult>;
  /** Closes the kept-alive connections. */
  close(): Promise<void>;
}

export interface HttpSinkOptions {
  url: string;
  /** NOTIFICATION_SECRET (whsec_...): signs every request when set. */
  secret: string | undefined;
  timeoutMs: number;
  /** Connections kept open to the sink: one per delivery in flight. */
  maxSockets: number;
}

const ERROR_BODY_CHARS = knobs.failureBodyChars.delivery;

/** Why an attempt was cut off: no complete answer within timeoutMs. */
class DeadlineExceeded extends Error {}

/**
 * Milliseconds a Retry-After header asks to wait: delay-seconds or an HTTP-date; undefined when absent or
 * unreadable (then only the backoff applies).
 */
export function retryAfterMs(header: string | undefined, nowMs = Date.now()): number | undefined {
  if (header === undefined) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * POSTs events to notification-orchestrator as CloudEvents in structured mode, signed per Standard
 * Webhooks. Any 2xx is delivered; any other status (a redirect too), a network error or no complete
 * answer within timeoutMs is a failure. Error texts never carry the URL (it may hold a token), the
 * receiver's address (a network error says what failed, not where: errors.ts) nor the secret. A send that
 * throws (a message no request can carry) is not caught here: the dispatcher sets that event aside as poison.
 *
 * undici's Pool, not node:http: it costs far less CPU per request (the delivery benchmark says how much).
 * One request per connection at a time (no pipelining: it was slower, and a failure would cut every request
 * queued behind it). Redirects are not followed (the Pool has no redirect interceptor), as the contract says.
 */
export function createHttpSink(options: HttpSinkOptions): HttpSink {
  const { url: target, authorization, excerpt } = httpTarget(options.url);
  const path = `${target.pathname}${target.search}`;
  // Keep-alive: thousands of events a second cannot each pay for a new TCP (and TLS) connection.
  // undici's own headers and body timeouts are off: the deadline below covers the whole exchange, and
  // their coarse timers keep every request's objects alive for up to a second, so the daemon promotes far
  // more garbage to the old generation (what sets its peak RSS) per event.
  const key = options.secret ? signingKey(options.secret) : undefined;
  const pool = new Pool(target.origin, {
    connections: options.maxSockets,
    pipelining: 1,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: { timeout: options.timeoutMs },
  });

  const deliver = (event: OutboxEvent) =>
    new Promise<DeliveryResult>((resolve, reject) => {
      const headers: Record<string, string> = {
        "content-type": "application/cloudevents+json",
        "idempotency-key": event.eventId,
        ...signatureHeaders(key, event.eventId, event.message),
      };
      if (authorization) headers.authorization = authorization;

      let settled = false;
      let controller: Dispatcher.DispatchController | undefined;
      let status = 0;
      let retryAfter: string | undefined;
      let text = "";
      const settle = (result: DeliveryResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      // One plain timer per request, cleared when it settles: AbortSignal.timeout's stay alive (with the
      // request they would abort) for the whole timeout, tens of thousands at a time under load.
      const timer = setTimeout(() => {
        // Settled first: abort() reports the cut-off through onResponseError at once.
        settle({ ok: false, error: `no answer within ${options.timeoutMs} ms` });
        controller?.abort(new DeadlineExceeded());
      }, options.timeoutMs);

      pool.dispatch(
        { origin: target.origin, path, method: "POST", headers, body: event.message },
        {
          onRequestStart(requestController) {
            controller = requestController;
            if (settled) requestController.abort(new DeadlineExceeded());
          },
          onResponseStart(_controller, statusCode, responseHeaders) {
            status = statusCode;
            if (statusCode === 429 || statusCode === 503) {
              const value = responseHeaders["retry-after"];
              retryAfter = Array.isArray(value) ? value[0] : value;
            }
          },
          onResponseData(_controller, chunk) {
            // Only a failure's answer is kept, and only its start: it goes into last_error.
            if ((status < 200 || status >= 300) && text.length < ERROR_BODY_CHARS) text += chunk.toString("utf8");
          },
          onResponseEnd() {
            if (status >= 200 && status < 300) return settle({ ok: true });
            const failure: DeliveryResult = {
              ok: false,
              error: `answered ${status}: ${excerpt(text, ERROR_BODY_CHARS)}`,
            };
            if (status === 410) failure.gone = true;
            const wait = retryAfterMs(retryAfter);
            if (wait !== undefined) failure.retryAfterMs = wait;
            settle(failure);
          },
          onResponseError(_controller, error) {
            const code = (error as { code?: string }).code;
            // A request undici refuses to send (a header no HTTP request can carry) fails the same way on
            // every attempt: the event itself is the problem, and the dispatcher sets it aside.
            if (code === "UND_ERR_INVALID_ARG" && !settled) {
              settled = true;
              clearTimeout(timer);
              return reject(error);
            }
            // A connection cut before the answer was complete is a failure too: the event is not delivered.
            // Node's and undici's messages name the receiver's host and port: only the words for what failed.
            settle({ ok: false, error: describeNetworkError(error) });
          },
        },
      );
    });

  return { deliver, close: () => pool.destroy() };
}

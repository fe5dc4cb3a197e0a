import http from "node:http";
import https from "node:https";
import type { OutboxEvent } from "./claimEvents.ts";
import { signatureHeaders } from "./signature.ts";

export type DeliveryResult = { ok: true } | { ok: false; error: string };

export interface HttpSink {
  deliver(event: OutboxEvent): Promise<DeliveryResult>;
  /** Closes the kept-alive connections. */
  close(): void;
}

export interface HttpSinkOptions {
  url: string;
  /** NOTIFICATION_SECRET: signs every request when set. */
  secret: string | undefined;
  timeoutMs: number;
  /** Connections kept open to the sink: one per delivery in flight. */
  maxSockets: number;
}

const ERROR_BODY_CHARS = 200;

/**
 * POSTs events to notification-orchestrator. Any 2xx is delivered; any other status, a network error or
 * no complete answer within timeoutMs is a failure. Error texts never carry the URL (it may hold a
 * token) nor the secret.
 */
export function createHttpSink(options: HttpSinkOptions): HttpSink {
  const target = new URL(options.url);
  const transport = target.protocol === "https:" ? https : http;
  // Keep-alive: thousands of events a second cannot each pay for a new TCP (and TLS) connection.
  const agent = new transport.Agent({ keepAlive: true, maxSockets: options.maxSockets });

  const deliver = (event: OutboxEvent) =>
    new Promise<DeliveryResult>((resolve) => {
      let settled = false;
      const settle = (result: DeliveryResult) => {
        if (settled) return;
        settled = true;
        resolve(result);
      };
      const signal = AbortSignal.timeout(options.timeoutMs);
      const failure = (error: Error): DeliveryResult => ({
        ok: false,
        error: signal.aborted ? `no answer within ${options.timeoutMs} ms` : `${(error as { code?: string }).code ?? error.name}: ${error.message}`,
      });
      const headers: Record<string, string | number> = {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(event.body),
        "idempotency-key": event.eventId,
        "x-ticketing-event-id": event.eventId,
        ...(options.secret ? signatureHeaders(options.secret, event.body) : {}),
      };
      const request = transport.request(target, { method: "POST", agent, headers, signal }, (response) => {
        const status = response.statusCode ?? 0;
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          if (text.length < ERROR_BODY_CHARS) text += chunk;
        });
        response.on("end", () =>
          settle(status >= 200 && status < 300 ? { ok: true } : { ok: false, error: `answered ${status}: ${text.slice(0, ERROR_BODY_CHARS)}` }),
        );
        response.on("error", (error) => settle(failure(error)));
        // A connection cut before the body ended: the answer is incomplete, so the event is not delivered.
        response.on("close", () => settle(failure(new Error("connection closed before the answer was complete"))));
      });
      request.on("error", (error) => settle(failure(error)));
      request.end(event.body);
    });

  return { deliver, close: () => agent.destroy() };
}

import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { z } from "zod";
import { type BackgroundService, parseServiceOptions } from "../backgroundService.ts";

export interface HealthSources {
  registry: Registry;
  /** Database reachable and the runner running. */
  ready(): Promise<boolean>;
}

/** Where the endpoints listen: a port (0: any free one; the daemon starts no server when HTTP_PORT is 0) and a host. */
export const httpServerOptionsSchema = z.strictObject({
  port: z.number().int().min(0).max(65535),
  host: z.string().min(1),
});
export type HttpServerOptions = z.input<typeof httpServerOptionsSchema>;

export interface HttpServer extends BackgroundService {
  /** The port it listens on (the one chosen when asked for 0). */
  port: number;
}

/** /metrics, /healthz and /readyz, nothing else: no data beyond metrics and health leaves the process. */
export async function startHttpServer(sources: HealthSources, options: HttpServerOptions): Promise<HttpServer> {
  const { port, host } = parseServiceOptions("HTTP server", httpServerOptionsSchema, options);
  const server = http.createServer(async (req, res) => {
    try {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method !== "GET") {
        res.writeHead(405, { allow: "GET" }).end();
      } else if (path === "/metrics") {
        const body = await sources.registry.metrics();
        res.writeHead(200, { "content-type": sources.registry.contentType }).end(body);
      } else if (path === "/healthz") {
        res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      } else if (path === "/readyz") {
        const ready = await sources.ready();
        res
          .writeHead(ready ? 200 : 503, { "content-type": "application/json" })
          .end(JSON.stringify({ status: ready ? "ready" : "not ready" }));
      } else {
        res.writeHead(404).end();
      }
    } catch {
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

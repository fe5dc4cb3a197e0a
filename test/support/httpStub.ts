import http from "node:http";
import type { AddressInfo } from "node:net";

export interface StubRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: unknown;
}

export type StubAnswer = { status: number; body?: unknown; delayMs?: number; headers?: Record<string, string> };

/**
 * A real HTTP server on 127.0.0.1 standing in for refund-processing, the change service or
 * notification-orchestrator. `answer` decides each response; every request is recorded.
 */
export async function startHttpStub(answer: (request: StubRequest, index: number) => StubAnswer | Promise<StubAnswer>) {
  const requests: StubRequest[] = [];
  const respond = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const request = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, json };
    const index = requests.push(request) - 1;
    const reply = await answer(request, index);
    if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    const payload = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body ?? {});
    res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers }).end(payload);
  };
  // A caller that goes away mid-request (its timeout, a killed daemon) is the test's doing, not a failure.
  const server = http.createServer((req, res) => {
    respond(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// `npm run bench -- --profile`: where a batch's time goes, statement by statement. Loads auto_explain in
// one session (superuser; the embedded server's user is) and prints EXPLAIN (ANALYZE, BUFFERS) of every
// statement run inside one expiry batch of 200 and inside one refund request (ticketing.approve_request),
// taken in the steady state (plans cached, backlog already partly swept), after clean timings of the
// same calls. The per-row foreign-key checks are summed into one line instead of printed one by one.
import pg from "pg";
import { backlogDatabase } from "./expiry.ts";
import { seedUsableTickets } from "./support/seed.ts";
import { type BenchServer, freshDatabase, using } from "./support/server.ts";

const RI_CHECK = /FOR KEY SHARE OF x/;

async function explainNested(url: string, warmUp: string[], timed: string[], profiled: string[]): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const sql of warmUp) await client.query(sql);
    const out: string[] = [];
    // Clean timings first: auto_explain's own work (explaining every per-row foreign-key check) inflates
    // the durations it reports several times over.
    for (const sql of timed) {
      const started = performance.now();
      await client.query(sql);
      out.push(`without auto_explain: ${(performance.now() - started).toFixed(2)} ms  ${sql}`);
    }
    out.push("");
    for (const setting of [
      "load 'auto_explain'",
      "set auto_explain.log_min_duration = 0",
      "set auto_explain.log_analyze = on",
      "set auto_explain.log_buffers = on",
      "set auto_explain.log_nested_statements = on",
      "set auto_explain.log_triggers = on",
      "set auto_explain.log_level = notice",
    ]) {
      await client.query(setting);
    }
    for (const sql of profiled) {
      const notices: string[] = [];
      const onNotice = (message: { message?: string }) => notices.push(message.message ?? "");
      client.on("notice", onNotice);
      const started = performance.now();
      await client.query(sql);
      const wall = performance.now() - started;
      client.off("notice", onNotice);
      const ri = notices.filter((n) => RI_CHECK.test(n));
      const riMs = ri.reduce((sum, n) => sum + Number(/duration: ([\d.]+) ms/.exec(n)?.[1] ?? 0), 0);
      out.push(`### ${sql}  (${wall.toFixed(1)} ms under auto_explain)`);
      for (const n of notices.filter((m) => !RI_CHECK.test(m))) {
        // Long literal arrays (the batch's ids) make plans unreadable.
        out.push(n.replace(/'\{[\d,]{80,}\}'/g, "'{...}'"), "");
      }
      out.push(`foreign-key checks: ${ri.length} statements, ${riMs.toFixed(2)} ms in all`, "");
    }
    return out.join("\n");
  } finally {
    await client.end();
  }
}

export async function profile(server: BenchServer, progress: (message: string) => void): Promise<string> {
  progress("profile: one expiry batch of 200");
  const batch = "select * from ticketing.expire_batch(200)";
  const expiry = await using(await backlogDatabase(server, 20_000), (db) =>
    explainNested(db.url, Array(10).fill(batch), Array(5).fill(batch), [batch]),
  );
  progress("profile: one refund request");
  const refund = await using(await freshDatabase(server, "profile"), async (db) => {
    await seedUsableTickets(db.pool, 100);
    // The built-in approve policy's one transaction, as the daemon runs it without a refund service.
    const request = (n: number) => [`select * from ticketing.approve_request('refund', ${n}, 'profile-${n}', '{}')`];
    return explainNested(db.url, [1, 2, 3, 4, 5, 6, 7, 8].flatMap(request), [9, 10, 11].flatMap(request), request(12));
  });
  return [
    `## Expiry: ticketing.expire_batch(200)\n`,
    expiry,
    `## Refund request: ticketing.approve_request (built-in policy)\n`,
    refund,
  ].join("\n");
}

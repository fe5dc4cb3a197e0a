// What the commands print on stdout: tables for a person, `--json` for jq (ids as exact JSON numbers).

/** Columns padded to their widest cell; numbers right-aligned, text left-aligned. */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === "number"));
  return cells
    .map(
      (row) =>
        `  ${row
          .map((cell, i) => (numeric[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
          .join("  ")
          .trimEnd()}`,
    )
    .join("\n");
}

export function age(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

/** Columns of bigint ids: PostgreSQL hands them over as decimal strings; JSON gets them as exact numbers. */
const ID_COLUMNS = new Set(["id", "ticket_id", "order_id", "job_id"]);
const { rawJSON } = JSON as unknown as { rawJSON(text: string): unknown };

export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    function (key, item) {
      const raw = (this as Record<string, unknown>)[key];
      if (raw instanceof Date) return raw.toISOString();
      if (ID_COLUMNS.has(key) && typeof item === "string" && /^\d+$/.test(item)) return rawJSON(item);
      return item;
    },
    2,
  );
}

export type Column<Row> = [header: string, cell: (row: Row) => string | number | null | undefined];

export function rowsTable<Row>(rows: Row[], columns: Array<Column<Row>>): string {
  const cell = (value: string | number | null | undefined) =>
    value === null || value === undefined ? "-" : typeof value === "number" ? value : String(value);
  return table(
    columns.map(([header]) => header),
    rows.map((row) => columns.map(([, get]) => cell(get(row)))),
  );
}

export const iso = (date: Date | null | undefined) => date?.toISOString();
/** One line of text for a table cell (errors may span lines). */
export const oneLine = (text: string | null | undefined, width = 60) => {
  if (!text) return text;
  const flat = text.replace(/\s+/g, " ");
  return flat.length > width ? `${flat.slice(0, width - 1)}…` : flat;
};

export interface ActionOutcome<Row> {
  dryRun: boolean;
  json: boolean;
  /** "retry", "retried", "failed request(s)": "would retry 2 failed request(s)" / "retried 2 failed request(s)". */
  verb: string;
  past: string;
  noun: string;
  rows: Row[];
  columns: Array<Column<Row>>;
}

/** An operator action's answer; a dry run prints the very table the real run prints. */
export function printAction<Row>({ dryRun, json, verb, past, noun, rows, columns }: ActionOutcome<Row>): void {
  if (json) {
    console.log(toJson({ dry_run: dryRun, count: rows.length, rows }));
    return;
  }
  const head = dryRun
    ? `dry run: would ${verb} ${rows.length} ${noun}; nothing was changed`
    : `${past} ${rows.length} ${noun}`;
  console.log(rows.length ? `${head}\n${rowsTable(rows, columns)}` : head);
}

/** A list's answer: a count line, then the table. */
export function printList<Row>(json: boolean, noun: string, rows: Row[], columns: Array<Column<Row>>): void {
  if (json) console.log(toJson(rows));
  else console.log(rows.length ? `${rows.length} ${noun}\n${rowsTable(rows, columns)}` : `no ${noun}`);
}

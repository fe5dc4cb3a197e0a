// pg parses json and jsonb columns with JSON.parse, which rounds every integer beyond 2^53 to the nearest
// double: a job payload's ticket id 9007199254740993 arrives as 9007199254740992. The pool's json parser
// here keeps such an integer exact as a raw JSON value (JSON.rawJSON): JSON.stringify writes it back digit
// for digit (graphile-worker's own re-serialisation, pg's parameters, an HTTP body), and code that expects
// a number gets an object it cannot mistake for one. Safe integers and every other value are unchanged.
import pg from "pg";

/** The part of Node's JSON (22+) that TypeScript's lib does not describe yet. */
interface SourceJson {
  parse(text: string, reviver: (key: string, value: unknown, context: { source?: string }) => unknown): unknown;
  rawJSON(text: string): RawJson;
  isRawJSON(value: unknown): value is RawJson;
}
export interface RawJson {
  readonly rawJSON: string;
}
const sourceJson = JSON as unknown as SourceJson;

const INTEGER_LITERAL = /^-?\d+$/;

/** JSON.parse, except that integers a double cannot hold exactly become raw JSON values. */
export function parseExactJson(text: string): unknown {
  return sourceJson.parse(text, (_key, value, context) =>
    typeof value === "number" &&
    !Number.isSafeInteger(value) &&
    context.source !== undefined &&
    INTEGER_LITERAL.test(context.source)
      ? sourceJson.rawJSON(context.source)
      : value,
  );
}

/** The digits of an integer kept exact by parseExactJson, or undefined for any other value. */
export function rawInteger(value: unknown): string | undefined {
  return sourceJson.isRawJSON(value) && INTEGER_LITERAL.test(value.rawJSON) ? value.rawJSON : undefined;
}

/** A raw JSON number from decimal digits, for building a body whose ids must stay exact. */
export function jsonInteger(digits: string): RawJson {
  return sourceJson.rawJSON(digits);
}

const JSON_OID = 114;
const JSONB_OID = 3802;

/** pg's type parsers with json and jsonb (text format, what pg asks for) read by parseExactJson. */
export const exactJsonTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    (oid === JSON_OID || oid === JSONB_OID) && format !== "binary"
      ? parseExactJson
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig["getTypeParser"],
};

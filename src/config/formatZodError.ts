import type { z } from "zod";

/** "KEY: reason; OTHER.KEY: reason" — one line naming each bad key, never its value. */
export function formatZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("; ");
}

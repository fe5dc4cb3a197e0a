/**
 * Runs `deleteChunk` (one statement deleting at most `chunk` rows) until it deletes fewer than `chunk` or
 * `stopping()`: short transactions, no long lock on a big table. Returns how many rows went in all.
 */
export async function deleteInChunks(
  deleteChunk: () => Promise<number>,
  chunk: number,
  stopping: () => boolean,
): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await deleteChunk();
    total += deleted;
    if (deleted < chunk || stopping()) return total;
  }
}

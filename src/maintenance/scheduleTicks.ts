import type { ParsedCronItem } from "graphile-worker";

const MINUTE = 60_000;
/** Cron items fire at most monthly in practice; looking back further than this finds no tick. */
const LOOKBACK_MINUTES = 62 * 24 * 60;

/** The `count` most recent minutes at or before `now` when `item` was due, newest first (UTC, as graphile-worker). */
export function recentTicks(item: ParsedCronItem, now: Date, count: number): Date[] {
  const ticks: Date[] = [];
  let minute = Math.floor(now.getTime() / MINUTE) * MINUTE;
  for (let i = 0; i < LOOKBACK_MINUTES && ticks.length < count; i++, minute -= MINUTE) {
    const at = new Date(minute);
    const digest = {
      min: at.getUTCMinutes(),
      hour: at.getUTCHours(),
      date: at.getUTCDate(),
      month: at.getUTCMonth() + 1,
      dow: at.getUTCDay(),
    };
    if (item.match(digest)) ticks.push(at);
  }
  return ticks;
}

/**
 * True when `missed` scheduled ticks have come and gone since `lastGood` (the last success, or when
 * watching began): a schedule that stopped firing is as bad as a job that fails.
 */
export function missedTicks(item: ParsedCronItem, lastGood: Date, now: Date, missed: number): boolean {
  const ticks = recentTicks(item, now, missed);
  const oldest = ticks[missed - 1];
  return oldest !== undefined && lastGood < oldest;
}

// Deadlines, never timing goals: a deadline only says "this never happened" (a hang), so it may be
// as generous as we like. On a machine busier than its core count they stretch by SLOWDOWN.

/**
 * How much slower than an idle machine this run is expected to be: $HNA_TEST_SLOWDOWN when set
 * (scripts/run-tests.mjs sets it from the load average when the suite starts), at least 1.
 */
export const SLOWDOWN = Math.max(1, Number(process.env.HNA_TEST_SLOWDOWN) || 1);

/** A deadline of `ms` on an idle machine, stretched for this one. */
export function deadline(ms: number): number {
  return Math.round(ms * SLOWDOWN);
}

/**
 * `p`, or `onTimeout` if it has not settled within `ms`. For things that must happen, not for how
 * fast: pick `ms` generous enough for a busy machine. The timer is cleared, so it never keeps
 * the test process alive.
 */
export async function within<T, U>(p: Promise<T>, ms: number, onTimeout: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<U>((resolve) => (timer = setTimeout(resolve, ms, onTimeout)))]);
  } finally {
    clearTimeout(timer);
  }
}

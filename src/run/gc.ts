// One full garbage collection right after the first full sync. The first list of a big cluster
// leaves tens of MB of parsed pages behind; V8 would keep them as heap for a long time, and RSS
// with it. One collection (tens of ms, once) returns them; probes are not affected later.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from '../platform/log.js';

/** V8's gc(), without --expose-gc on the command line (that would need every launcher to pass it). */
function fullGc(): (() => void) | undefined {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  return typeof gc === 'function' ? (gc as () => void) : undefined;
}

export function collectAfterFirstSync(synced: () => boolean, log: Logger): void {
  const poll = setInterval(() => {
    if (!synced()) return;
    clearInterval(poll);
    const gc = fullGc();
    if (gc === undefined) return;
    const before = process.memoryUsage.rss();
    const t0 = performance.now();
    gc();
    log.debug(
      { ms: Math.round(performance.now() - t0), rssBefore: before, rssAfter: process.memoryUsage.rss() },
      'one full GC after the first sync',
    );
  }, 250);
  poll.unref();
}

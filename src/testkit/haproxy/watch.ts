// Polls HAProxy's stats socket and reports each server whose status or weight changed, so a person
// (the demo) sees a cordon or an annotation take effect at the edge as it happens.
import { readServerStats, type ServerStat } from './stats.js';

export interface ServerWatchOptions {
  statsSocket: string;
  intervalMs: number;
  /** Called once per server when first seen, then on each change of status or weight. */
  onChange: (now: ServerStat, before: ServerStat | undefined) => void;
  /** Called when a poll fails (HAProxy gone); polling continues. */
  onError?: (err: Error) => void;
}

export interface ServerWatch {
  stop(): void;
}

/** "web@node-a: DRAIN (agent) weight 100": backend@server, as HAProxy shows it. */
export function describeServer(s: ServerStat): string {
  return `${s.backend}@${s.server}: ${s.status} weight ${s.weight}`;
}

export function watchServers(opts: ServerWatchOptions): ServerWatch {
  const seen = new Map<string, ServerStat>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async (): Promise<void> => {
    try {
      for (const s of await readServerStats(opts.statsSocket)) {
        const key = `${s.backend}/${s.server}`;
        const before = seen.get(key);
        if (before === undefined || before.status !== s.status || before.weight !== s.weight) {
          seen.set(key, s);
          if (!stopped) opts.onChange(s, before);
        }
      }
    } catch (err) {
      if (!stopped) opts.onError?.(err instanceof Error ? err : new Error(String(err)));
    }
    // Chained, not setInterval: a slow poll never overlaps the next one.
    if (!stopped) timer = setTimeout(() => void poll(), opts.intervalMs);
  };
  void poll();
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}

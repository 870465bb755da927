// The seed's own rule, for render --out and sync alike: never take many servers away at once. A
// result that empties a backend, or whose backends lose more than a share of all servers, is more
// often an RBAC mistake, a half-synced list or a wrong context than an intent: it is held and shown.

/** Servers per backend: what runs (or was written) before, and what would replace it. */
export type ServerCounts = ReadonlyMap<string, number>;

export interface RemovalVerdict {
  held: boolean;
  /** Servers lost: per backend, how many fewer it would have (a removed backend loses all). */
  lost: number;
  before: number;
  /** Backends still wanted that would have no server left. */
  emptied: string[];
  /** One line for logs, /status and render's error, empty when not held. */
  reason: string;
}

/**
 * A replaced server (one node for another) loses nothing; only capacity counts. Held when a
 * backend still wanted would be emptied, or when more than `maxFraction` of the servers go at once
 * (fraction 1 never holds for the share; an emptied backend holds whatever the fraction is below 1).
 */
export function judgeRemoval(before: ServerCounts, after: ServerCounts, maxFraction: number): RemovalVerdict {
  let total = 0;
  let lost = 0;
  const emptied: string[] = [];
  for (const [backend, n] of before) {
    total += n;
    const next = after.get(backend);
    lost += Math.max(0, n - (next ?? 0));
    if (n > 0 && next === 0) emptied.push(backend);
  }
  emptied.sort();
  const tooMany = total > 0 && lost / total > maxFraction;
  const held = maxFraction < 1 && (tooMany || emptied.length > 0);
  let reason = '';
  if (held) {
    const parts: string[] = [];
    if (emptied.length > 0)
      parts.push(
        `it would leave ${emptied.length} backend(s) without a server (${emptied.slice(0, 5).join(', ')}` +
          `${emptied.length > 5 ? ', ...' : ''})`,
      );
    if (tooMany)
      parts.push(`it would remove ${lost} of ${total} servers (more than ${Math.round(maxFraction * 100)}%)`);
    reason = parts.join(' and ');
  }
  return { held, lost, before: total, emptied, reason };
}

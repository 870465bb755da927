// Which Service keys are a proper prefix of another known key ("shop/api" of "shop/api-canary"). An
// agent-send without its newline (a server added through HAProxy's runtime API cannot carry one) is
// answered at once only when no longer key could still be arriving behind it (run/agent/server.ts).
// Kept up to date as keys come and go, so a probe asks one Set: the keys sorted (a key's extensions
// sort right after it, together), and each new or removed key checks its own few prefixes.

export class KeyPrefixes {
  /** Every key, in code-unit order. */
  private readonly sorted: string[] = [];
  private readonly keys = new Set<string>();
  /** The keys that another key starts with. */
  private readonly prefixes = new Set<string>();

  /** Another known key starts with `key` (and is longer). */
  has(key: string): boolean {
    return this.prefixes.has(key);
  }

  get size(): number {
    return this.keys.size;
  }

  add(key: string): void {
    if (this.keys.has(key)) return;
    this.keys.add(key);
    const i = lowerBound(this.sorted, key);
    this.sorted.splice(i, 0, key);
    if (this.sorted[i + 1]?.startsWith(key) === true) this.prefixes.add(key);
    for (const p of this.knownPrefixesOf(key)) this.prefixes.add(p);
  }

  delete(key: string): void {
    if (!this.keys.delete(key)) return;
    this.sorted.splice(lowerBound(this.sorted, key), 1);
    this.prefixes.delete(key);
    // A shorter key stays a prefix only while some other key still extends it: its successor would.
    for (const p of this.knownPrefixesOf(key)) {
      if (this.sorted[lowerBound(this.sorted, p) + 1]?.startsWith(p) !== true) this.prefixes.delete(p);
    }
  }

  /**
   * The known keys that `key` extends. Keys are "namespace/name", so such a key has the same
   * namespace and slash and a shorter name: at most 62 lookups, only when a key comes or goes.
   */
  private knownPrefixesOf(key: string): string[] {
    const out: string[] = [];
    const slash = key.indexOf('/');
    for (let n = key.length - 1; n > slash + 1; n--) {
      const p = key.slice(0, n);
      if (this.keys.has(p)) out.push(p);
    }
    return out;
  }
}

/** The index of the first element not below `key`. */
function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

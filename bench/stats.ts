// Percentiles over latency samples (microseconds), sorted in place.
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(samples: Float64Array): LatencySummary {
  const a = samples.slice().sort();
  const at = (q: number): number =>
    a.length === 0 ? NaN : (a[Math.min(a.length - 1, Math.ceil(q * a.length) - 1)] as number);
  return { count: a.length, p50: at(0.5), p99: at(0.99), max: a.length === 0 ? NaN : (a[a.length - 1] as number) };
}

export function concat(parts: readonly Float64Array[]): Float64Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Float64Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// PURE: which TCP port each TCP Service gets, from the pool (--tcp-port-range) and the `ports`
// section of the claims record (core/claims-document.ts). The rules, in order:
//
// 1. A recorded port belongs to the Service recorded for it (`cluster/namespace/name`) while that
//    Service asks for a TCP port ("auto", or that very number). Nobody else gets it, whatever they
//    ask and however old their Service is: the record, which tenants cannot write, dates the promise.
// 2. A recorded port whose Service no longer asks for it is quarantined for PORT_QUARANTINE_MS (24 h) from when
//    a writer first saw it gone (`vacated`): not handed out, so a client still pointing at it never
//    reaches a stranger. The same Service coming back within it gets the port back. After it, the
//    port is released. A Service in a cluster this run did not read keeps its port, unvacated.
// 3. Only a writer (sync: `assign`) hands out new ports; render serves recorded ports only and
//    skips a TCP Service without one, with a warning.
// 4. New ports go oldest Service first (creationTimestamp, then cluster/namespace/name): an explicit
//    "N" first, when N is in the pool and free; then "auto" takes the lowest free port of the pool.
//    A port asked for that is held by another Service is refused, naming both; an empty pool is
//    refused. A live or quarantined port is never reused.
//
// A Service's recorded port is served even when the pool no longer contains it (a promise is kept
// when an operator narrows --tcp-port-range); it is never handed out again once released.
import { type ClaimEntry, entryBytes, MAX_CLAIM_ENTRIES, recordedUid, splitOwner } from '../core/claims-document.js';

/** How long a deleted Service's port is held back: a day, like a host's claim (edge/claims.ts). */
export const PORT_QUARANTINE_MS = 24 * 60 * 60 * 1000;

export interface PortRange {
  min: number;
  max: number;
}

/** A Service asking for a TCP port: "auto" or a number, already validated as 1..65535. */
export interface TcpPortRequest {
  cluster: string;
  namespace: string;
  name: string;
  uid: string;
  /** ms since the epoch; Infinity when unknown (sorts last). */
  created: number;
  wanted: 'auto' | number;
}

export type RefusalReason = 'taken' | 'quarantined' | 'out-of-range' | 'exhausted' | 'unassigned' | 'record-full';

export interface TcpPortOptions {
  range: PortRange | undefined;
  /** The clusters this run read: a Service of another one keeps its port, unvacated. */
  clusters: ReadonlySet<string>;
  /** true: may record new ports and vacate or release old ones (sync); false: read only (render). */
  assign: boolean;
  quarantineMs?: number;
}

export interface TcpPortResolution<R extends TcpPortRequest> {
  /** Each admitted request with its port, sorted by port. */
  assigned: { request: R; port: number }[];
  /** The `ports` section to write back (equal to the one given when `assign` is false). */
  ports: Map<string, ClaimEntry>;
  refusals: { request: R; reason: RefusalReason; message: string }[];
}

const identity = (r: TcpPortRequest): string => `${r.cluster}/${r.namespace}/${r.name}`;
const ownerOf = (r: TcpPortRequest): string => `${r.cluster}/${r.namespace}`;
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
// Infinity - Infinity is NaN, which || passes over like 0.
const older = (a: TcpPortRequest, b: TcpPortRequest): number => a.created - b.created || cmp(identity(a), identity(b));

export function resolveTcpPorts<R extends TcpPortRequest>(
  requests: readonly R[],
  recorded: ReadonlyMap<string, ClaimEntry>,
  nowIso: string,
  opts: TcpPortOptions,
  /** Entries of the other sections, for the record's entry cap. */
  otherEntries = 0,
): TcpPortResolution<R> {
  const now = Date.parse(nowIso);
  if (Number.isNaN(now)) throw new Error(`resolveTcpPorts: ${JSON.stringify(nowIso)} is not a time`);
  const quarantineMs = opts.quarantineMs ?? PORT_QUARANTINE_MS;
  const ports = new Map(recorded);
  const assigned: { request: R; port: number }[] = [];
  const refusals: TcpPortResolution<R>['refusals'] = [];
  const byService = new Map<string, R>();
  for (const r of [...requests].sort(older)) if (!byService.has(identity(r))) byService.set(identity(r), r);
  const done = new Set<R>();

  // Rules 1 and 2: recorded ports.
  for (const [key, e] of [...recorded].sort(([a], [b]) => Number(a) - Number(b))) {
    const port = Number(key);
    const r = byService.get(e.service);
    if (r !== undefined && (r.wanted === 'auto' || r.wanted === port)) {
      assigned.push({ request: r, port });
      done.add(r);
      if (opts.assign) {
        const { vacated: _back, ...entry } = e;
        ports.set(key, { ...entry, uid: recordedUid(r.uid) || entry.uid });
      }
      continue;
    }
    if (!opts.assign) continue;
    const cluster = splitOwner(e.owner)?.cluster ?? '';
    if (!opts.clusters.has(cluster)) continue;
    const vacated = e.vacated ?? nowIso;
    if (now < Date.parse(vacated) + quarantineMs) ports.set(key, { ...e, vacated });
    else ports.delete(key);
  }

  const refuse = (r: R, reason: RefusalReason, message: string): void => {
    refusals.push({ request: r, reason, message: `service ${identity(r)}: ${message}` });
    done.add(r);
  };
  const holder = (port: number): string => {
    const e = ports.get(String(port));
    if (e === undefined) return '';
    return e.vacated === undefined
      ? `it belongs to service ${e.service} (recorded ${e.since})`
      : `it is quarantined for service ${e.service} (gone since ${e.vacated})`;
  };
  let entries = otherEntries + ports.size;
  const take = (r: R, port: number): void => {
    const entry: ClaimEntry = { owner: ownerOf(r), service: identity(r), uid: recordedUid(r.uid), since: nowIso };
    if (entries + 1 > MAX_CLAIM_ENTRIES || entryBytes(String(port), entry) > 1024) {
      refuse(r, 'record-full', `the claims record is full (${MAX_CLAIM_ENTRIES} entries); no TCP port; skipped`);
      return;
    }
    entries++;
    ports.set(String(port), entry);
    assigned.push({ request: r, port });
    done.add(r);
  };

  const waiting = [...byService.values()].filter((r) => !done.has(r));
  // Rule 3: render never assigns.
  if (!opts.assign) {
    for (const r of waiting)
      refuse(r, 'unassigned', 'no TCP port recorded for it yet (only sync assigns them); skipped');
    return finish(assigned, ports, refusals);
  }
  // Rule 4: explicit numbers first, then "auto", oldest Service first within each.
  for (const r of waiting) {
    if (r.wanted === 'auto') continue;
    const n = r.wanted;
    if (opts.range === undefined || n < opts.range.min || n > opts.range.max) {
      const pool =
        opts.range === undefined ? 'no pool (--tcp-port-range is empty)' : `--tcp-port-range ${rangeText(opts.range)}`;
      refuse(r, 'out-of-range', `TCP port ${n} is outside ${pool}; skipped`);
    } else if (ports.has(String(n))) {
      const e = ports.get(String(n)) as ClaimEntry;
      refuse(r, e.vacated === undefined ? 'taken' : 'quarantined', `TCP port ${n} refused: ${holder(n)}; skipped`);
    } else take(r, n);
  }
  let next = opts.range?.min ?? 1;
  for (const r of waiting) {
    if (r.wanted !== 'auto') continue;
    if (opts.range === undefined) {
      refuse(r, 'out-of-range', 'asks for a TCP port but --tcp-port-range is empty; skipped');
      continue;
    }
    while (next <= opts.range.max && ports.has(String(next))) next++;
    if (next > opts.range.max) {
      refuse(r, 'exhausted', `no free TCP port left in --tcp-port-range ${rangeText(opts.range)}; skipped`);
      continue;
    }
    take(r, next);
  }
  return finish(assigned, ports, refusals);
}

function finish<R extends TcpPortRequest>(
  assigned: { request: R; port: number }[],
  ports: Map<string, ClaimEntry>,
  refusals: TcpPortResolution<R>['refusals'],
): TcpPortResolution<R> {
  assigned.sort((a, b) => a.port - b.port);
  return { assigned, ports, refusals };
}

export function rangeText(r: PortRange): string {
  return `${r.min}-${r.max}`;
}

// PURE: who owns each host and each explicit backend name, from the Services' claims and the claims
// record (core/claims-document.ts), and the record to write back. The rules, in order:
//
// 1. A recorded key belongs to its recorded owner (`cluster/namespace`) while a Service of that
//    owner claims it. Others join only when a Service of the owner claiming the key lets them in
//    (PREFIX/share-with: `ns` for the owner's cluster, `cluster/ns` for another); the rest are
//    skipped. A Service's age plays no part: the record dates the claim, and tenants cannot write it.
// 2. A recorded owner with no claiming Service keeps the key for QUARANTINE_MS from when a run
//    first saw it gone (`vacated`), then the key is released and read as unrecorded. An owner in a
//    cluster this run did not read keeps the key, unvacated: another run may see its Services.
// 3. An unrecorded key claimed by one owner is that owner's, recorded from now.
// 4. An unrecorded key claimed by several owners is uncontested only when one of them and each
//    other claimant let each other in (both ways); that one (the oldest by byClaim among such) is
//    recorded as the owner. Otherwise nobody can know who served it first, so every claimant is
//    skipped with a warning, and nothing is recorded, until an operator records an owner or the
//    owners name each other.
//
// Hosts are resolved first; explicit backend names only among the Services that kept their host.
import { groupBy } from '../core/group-by.js';
import {
  type ClaimEntry,
  type ClaimSection,
  type ClaimsDocument,
  entryBytes,
  MAX_CLAIM_ENTRIES,
  MAX_CLAIMS_BYTES,
  recordedUid,
  sameClaims,
  serializeClaimsDocument,
  splitOwner,
} from '../core/claims-document.js';
import { byClaim, type Claim, ownerOf, who } from './ownership.js';
import { resolveTcpPorts, type TcpPortOptions, type TcpPortRequest } from './tcp-ports.js';

/** How long a recorded owner keeps a key it no longer claims (a redeploy, a mistaken delete). */
export const QUARANTINE_MS = 24 * 60 * 60 * 1000;

export interface ClaimRequest extends Claim {
  host: string | undefined;
  /** Explicit PREFIX/backend, or undefined. */
  backend: string | undefined;
}

export interface ClaimsOptions {
  /** The share annotation, for messages: PREFIX/share-with. */
  shareKey: string;
  /** The clusters this run read. */
  clusters: ReadonlySet<string>;
  quarantineMs?: number;
  /**
   * The backend name a request without PREFIX/backend gets from its host and path: it belongs to
   * the host's owner, so an explicit name equal to it from an owner not let in is refused (and
   * never recorded) rather than renamed around.
   */
  derivedName?: (r: ClaimRequest) => string | undefined;
}

/** Who owns one key, once resolved. */
export interface KeyOwner<C extends Claim> {
  /** `cluster/namespace`. */
  owner: string;
  /** Owners the owner lets in. */
  shared: ReadonlySet<string>;
  /** The owner's oldest claiming Service. */
  first: C;
}

export function mayJoin(o: KeyOwner<Claim>, owner: string): boolean {
  return owner === o.owner || o.shared.has(owner);
}

export interface ClaimsResolution<C extends ClaimRequest> {
  /** The requests that keep both their host and their backend name, in input order. */
  admitted: C[];
  hosts: Map<string, KeyOwner<C>>;
  backends: Map<string, KeyOwner<C>>;
  /** The record to write back: new uncontested claims, vacated and released entries. */
  record: ClaimsDocument;
  /** Whether `record` differs from the record given. */
  changed: boolean;
  warnings: string[];
}

interface Context {
  now: number;
  nowIso: string;
  opts: ClaimsOptions;
  quarantineMs: number;
  /** Entries and bytes the record holds so far: new claims stop at the caps. */
  entries: number;
  bytes: number;
  notRecorded: number;
  warnings: string[];
}

/** Resolves hosts, then explicit backend names. `nowIso` dates new claims and starts quarantines. */
export function resolveClaims<C extends ClaimRequest>(
  requests: readonly C[],
  record: ClaimsDocument,
  nowIso: string,
  opts: ClaimsOptions,
): ClaimsResolution<C> {
  const now = Date.parse(nowIso);
  if (Number.isNaN(now)) throw new Error(`resolveClaims: ${JSON.stringify(nowIso)} is not a time`);
  const ctx: Context = {
    now,
    nowIso,
    opts,
    quarantineMs: opts.quarantineMs ?? QUARANTINE_MS,
    entries: record.hosts.size + record.backends.size + record.ports.size,
    bytes: serializeClaimsDocument(record).length,
    notRecorded: 0,
    warnings: [],
  };
  const hosts = resolveSection(
    requests,
    (r) => r.host,
    'hosts',
    (k) => `host ${k}`,
    record,
    ctx,
  );
  const named = withoutDerivedNames(hosts.admitted, hosts.owners, ctx);
  const backends = resolveSection(
    named,
    (r) => r.backend,
    'backends',
    (k) => `backend ${k}`,
    record,
    ctx,
  );
  const next: ClaimsDocument = {
    hosts: hosts.entries,
    backends: backends.entries,
    ports: record.ports,
    extra: record.extra,
  };
  if (ctx.notRecorded > 0)
    ctx.warnings.push(
      `claims record: full (${MAX_CLAIM_ENTRIES} entries or ${MAX_CLAIMS_BYTES} bytes); ` +
        `${ctx.notRecorded} new claims not recorded, so their owners are not protected yet`,
    );
  return {
    admitted: backends.admitted,
    hosts: hosts.owners,
    backends: backends.owners,
    record: next,
    changed: !sameClaims(record, next),
    warnings: ctx.warnings,
  };
}

/** Drops explicit backend names that equal a name derived from another owner's host. */
function withoutDerivedNames<C extends ClaimRequest>(
  requests: readonly C[],
  hostOwners: ReadonlyMap<string, KeyOwner<C>>,
  ctx: Context,
): C[] {
  const derive = ctx.opts.derivedName;
  if (derive === undefined) return [...requests];
  const derived = new Map<string, KeyOwner<C>>();
  for (const r of requests) {
    const name = r.backend === undefined && r.host !== undefined ? derive(r) : undefined;
    const o = r.host === undefined ? undefined : hostOwners.get(r.host);
    if (name !== undefined && o !== undefined && !derived.has(name)) derived.set(name, o);
  }
  return requests.filter((c) => {
    const o = c.backend === undefined ? undefined : derived.get(c.backend);
    if (o === undefined || mayJoin(o, ownerOf(c))) return true;
    ctx.warnings.push(
      `service ${who(c)}: backend name ${c.backend} belongs to ${o.owner} (service ${who(o.first)}), ` +
        `which does not share it with ${ownerOf(c)} (${ctx.opts.shareKey}); skipped`,
    );
    return false;
  });
}

function keyOwner<C extends Claim>(owner: string, claims: readonly C[]): KeyOwner<C> {
  const shared = new Set<string>();
  for (const c of claims) for (const s of c.shareWith) if (s !== owner) shared.add(s);
  return { owner, shared, first: [...claims].sort(byClaim)[0] as C };
}

function resolveSection<C extends Claim>(
  claims: readonly C[],
  keyOf: (c: C) => string | undefined,
  section: Exclude<ClaimSection, 'ports'>,
  what: (key: string) => string,
  record: ClaimsDocument,
  ctx: Context,
): { admitted: C[]; owners: Map<string, KeyOwner<C>>; entries: Map<string, ClaimEntry> } {
  const before = record[section];
  const entries = new Map(before);
  const owners = new Map<string, KeyOwner<C>>();
  const refused = new Set<C>();
  const grouped = groupBy(claims, keyOf);
  const share = ctx.opts.shareKey;
  const keys = new Set([...grouped.keys(), ...before.keys()]);
  for (const k of [...keys].sort()) {
    const list = grouped.get(k) ?? [];
    const byOwner = groupBy(list, ownerOf);
    const entry = before.get(k);
    if (entry !== undefined) {
      const live = byOwner.get(entry.owner);
      if (live !== undefined) {
        // Rule 1: the recorded owner is here.
        const o = keyOwner(entry.owner, live);
        owners.set(k, o);
        entries.set(k, current(entry, live, o.first));
        for (const c of list) {
          if (mayJoin(o, ownerOf(c))) continue;
          refused.add(c);
          ctx.warnings.push(
            `service ${who(c)}: ${what(k)} belongs to ${entry.owner} (service ${who(o.first)}; ` +
              `claim recorded ${entry.since}), which does not share it with ${ownerOf(c)} (${share}); skipped`,
          );
        }
        continue;
      }
      // Rule 2: the recorded owner is gone, or in a cluster this run did not read.
      const cluster = splitOwner(entry.owner)?.cluster ?? '';
      if (!ctx.opts.clusters.has(cluster)) {
        for (const c of list) {
          refused.add(c);
          ctx.warnings.push(
            `service ${who(c)}: ${what(k)} belongs to ${entry.owner} (service ${entry.service}; ` +
              `claim recorded ${entry.since}), whose cluster this run did not read; skipped`,
          );
        }
        continue;
      }
      const vacated = entry.vacated ?? ctx.nowIso;
      const until = Date.parse(vacated) + ctx.quarantineMs;
      if (ctx.now < until) {
        entries.set(k, { ...entry, vacated });
        for (const c of list) {
          refused.add(c);
          ctx.warnings.push(
            `service ${who(c)}: ${what(k)} is held for ${entry.owner} until ${new Date(until).toISOString()} ` +
              `(no Service of it has claimed it since ${vacated}; claim recorded ${entry.since}); skipped`,
          );
        }
        continue;
      }
      entries.delete(k); // released: read as unrecorded below
      ctx.entries--;
    }
    if (list.length === 0) continue;
    // Rules 3 and 4: unrecorded.
    const contenders = [...byOwner].map(([owner, cs]) => keyOwner(owner, cs));
    const agreed = contenders.filter((o) =>
      contenders.every((p) => p === o || (o.shared.has(p.owner) && p.shared.has(o.owner))),
    );
    const winner = agreed.sort((a, b) => byClaim(a.first, b.first))[0];
    if (winner === undefined) {
      const names = contenders.map((o) => o.owner).sort();
      for (const c of list) {
        refused.add(c);
        ctx.warnings.push(
          `service ${who(c)}: ${what(k)} is claimed by ${names.join(', ')} and the claims record names no owner; ` +
            `skipped until an owner is recorded or the owners let each other in (${share})`,
        );
      }
      continue;
    }
    owners.set(k, winner);
    const fresh: ClaimEntry = {
      owner: winner.owner,
      service: who(winner.first),
      uid: recordedUid(winner.first.uid),
      since: ctx.nowIso,
    };
    const bytes = entryBytes(k, fresh);
    if (ctx.entries + 1 > MAX_CLAIM_ENTRIES || ctx.bytes + bytes > MAX_CLAIMS_BYTES) {
      ctx.notRecorded++;
      continue;
    }
    ctx.entries++;
    ctx.bytes += bytes;
    entries.set(k, fresh);
  }
  return { admitted: claims.filter((c) => !refused.has(c)), owners, entries };
}

/** The entry with its owner present: not vacated, naming a Service that still claims it. */
function current(entry: ClaimEntry, live: readonly Claim[], first: Claim): ClaimEntry {
  const { vacated: _present, ...e } = entry;
  if (live.some((c) => who(c) === e.service)) return e;
  return { ...e, service: who(first), uid: recordedUid(first.uid) };
}

/** What a writer of the record needs to resolve again: every valid request, before ownership. */
export interface ClaimsToRecord {
  requests: readonly ClaimRequest[];
  options: ClaimsOptions;
  /** TCP port requests (edge/tcp-ports.ts), only from a writer that assigns ports (sync). */
  tcp?: { requests: readonly TcpPortRequest[]; options: TcpPortOptions };
}

/**
 * The mutator a writer hands to kube/claims-record.ts's recordClaims: the same requests resolved
 * against the record as stored right now (re-read after a 409), so two writers never drop each
 * other's claims. Undefined: nothing to write.
 */
export function claimsUpdate(
  claims: ClaimsToRecord,
  nowIso: string,
): (current: ClaimsDocument) => ClaimsDocument | undefined {
  return (current) => {
    const r = resolveClaims(claims.requests, current, nowIso, claims.options);
    const tcp = claims.tcp;
    if (tcp === undefined) return r.changed ? r.record : undefined;
    const others = r.record.hosts.size + r.record.backends.size;
    const ports = resolveTcpPorts(tcp.requests, current.ports, nowIso, tcp.options, others).ports;
    const next = { ...r.record, ports };
    return sameClaims(current, next) ? undefined : next;
  };
}

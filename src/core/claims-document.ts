// PURE: the claims record as one JSON document (the `claims.json` key of a ConfigMap tenants cannot
// write), and back. It says which (cluster, namespace) owns a host or an explicit backend name and
// since when, so ownership no longer depends on a Service's creationTimestamp, which any tenant can
// pick by annotating an old Service. Validated like hostile input, bounded in size: an operator
// edits it by hand, and a document that does not parse is an error, never a silent empty record.
import { isPlainObject } from './json.js';
import { isClusterName, isDnsLabel, isDnsSubdomain } from './names.js';

/** The ConfigMap's data key. */
export const CLAIMS_KEY = 'claims.json';
export const CLAIMS_VERSION = 1;

/** One recorded claim. */
export interface ClaimEntry {
  /** `<cluster>/<namespace>`: the owner. */
  owner: string;
  /** `<cluster>/<namespace>/<name>`: the Service whose claim was recorded (for messages). */
  service: string;
  uid: string;
  /** ISO time the claim was first recorded. */
  since: string;
  /** ISO time a writer first saw the owner without a claiming Service; the quarantine runs from it. */
  vacated?: string;
}

/** The sections: hosts and backend names (edge/claims.ts), TCP ports (edge/tcp-ports.ts). */
export const CLAIM_SECTIONS = ['hosts', 'backends', 'ports'] as const;
export type ClaimSection = (typeof CLAIM_SECTIONS)[number];

export interface ClaimsDocument {
  hosts: Map<string, ClaimEntry>;
  backends: Map<string, ClaimEntry>;
  /** TCP port (decimal, 1..65535) → the Service it is promised to; written by sync only. */
  ports: Map<string, ClaimEntry>;
  /** Top-level keys this version does not know (a newer writer's sections): kept as they were. */
  extra: Map<string, unknown>;
}

/** At most this many entries in all sections together: new claims past it are not recorded. */
export const MAX_CLAIM_ENTRIES = 5000;
/** At most this many bytes of claims.json (a ConfigMap holds 1 MiB in all). */
export const MAX_CLAIMS_BYTES = 900 * 1024;

const KEY_RULES: Record<ClaimSection, (k: string) => boolean> = {
  hosts: isDnsSubdomain,
  backends: (k) => /^[A-Za-z0-9._:-]{1,100}$/.test(k),
  ports: (k) => /^[1-9][0-9]{0,4}$/.test(k) && Number(k) <= 65535,
};

/** Where the record lives (the edge's own namespace: tenants get no write access to it). */
export interface ClaimsRef {
  namespace: string;
  name: string;
}

export const DEFAULT_CLAIMS_REF: ClaimsRef = {
  namespace: 'haproxy-node-agent',
  name: 'haproxy-node-agent-edge-claims',
};

/** `NAMESPACE/NAME` → a ref; undefined when either part is not a valid name. */
export function parseClaimsRef(v: string): ClaimsRef | undefined {
  const [namespace, name, ...rest] = v.split('/');
  if (rest.length > 0 || namespace === undefined || name === undefined) return undefined;
  return isDnsLabel(namespace) && isDnsSubdomain(name) ? { namespace, name } : undefined;
}

export function claimsRefText(ref: ClaimsRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export class ClaimsFormatError extends Error {
  override name = 'ClaimsFormatError';
}

export function emptyClaims(): ClaimsDocument {
  return { hosts: new Map(), backends: new Map(), ports: new Map(), extra: new Map() };
}

/** `cluster/namespace` → its parts (the namespace is a DNS label, so the last '/' splits). */
export function splitOwner(owner: string): { cluster: string; namespace: string } | undefined {
  const slash = owner.lastIndexOf('/');
  if (slash === -1) return undefined;
  const cluster = owner.slice(0, slash);
  const namespace = owner.slice(slash + 1);
  return isClusterName(cluster) && isDnsLabel(namespace) ? { cluster, namespace } : undefined;
}

export function ownerId(cluster: string, namespace: string): string {
  return `${cluster}/${namespace}`;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

function isTime(v: unknown): v is string {
  return typeof v === 'string' && ISO.test(v) && !Number.isNaN(Date.parse(v));
}

/** A Service's uid as recorded: what the API server writes (a UUID), else empty. */
export function recordedUid(uid: string): string {
  return /^[A-Za-z0-9-]{1,128}$/.test(uid) ? uid : '';
}

function isService(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const slash = v.lastIndexOf('/');
  return slash !== -1 && isDnsLabel(v.slice(slash + 1)) && splitOwner(v.slice(0, slash)) !== undefined;
}

function entryOf(where: string, v: unknown): ClaimEntry {
  if (!isPlainObject(v)) throw new ClaimsFormatError(`${where}: expected an object`);
  const { owner, service, uid, since, vacated } = v;
  if (typeof owner !== 'string' || splitOwner(owner) === undefined)
    throw new ClaimsFormatError(`${where}.owner: expected "<cluster>/<namespace>"`);
  if (!isService(service)) throw new ClaimsFormatError(`${where}.service: expected "<cluster>/<namespace>/<name>"`);
  if (typeof uid !== 'string' || (uid !== '' && recordedUid(uid) === ''))
    throw new ClaimsFormatError(`${where}.uid: expected a uid or ""`);
  if (!isTime(since)) throw new ClaimsFormatError(`${where}.since: expected an RFC 3339 time`);
  if (vacated !== undefined && !isTime(vacated))
    throw new ClaimsFormatError(`${where}.vacated: expected an RFC 3339 time`);
  const e: ClaimEntry = { owner, service, uid, since };
  if (vacated !== undefined) e.vacated = vacated;
  return e;
}

/** Parses claims.json; throws ClaimsFormatError (naming the first bad field) on anything else. */
export function parseClaimsDocument(text: string): ClaimsDocument {
  if (text.length > MAX_CLAIMS_BYTES)
    throw new ClaimsFormatError(`${text.length} characters, more than ${MAX_CLAIMS_BYTES} allowed`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ClaimsFormatError('not JSON');
  }
  if (!isPlainObject(doc)) throw new ClaimsFormatError('expected an object');
  if (doc.version !== CLAIMS_VERSION) throw new ClaimsFormatError(`version: expected ${CLAIMS_VERSION}`);
  const out = emptyClaims();
  let count = 0;
  for (const section of CLAIM_SECTIONS) {
    const v = doc[section] ?? {};
    if (!isPlainObject(v)) throw new ClaimsFormatError(`${section}: expected an object`);
    for (const [k, e] of Object.entries(v)) {
      if (!KEY_RULES[section](k))
        throw new ClaimsFormatError(`${section}: ${JSON.stringify(k.slice(0, 64))} is no name`);
      if (++count > MAX_CLAIM_ENTRIES) throw new ClaimsFormatError(`more than ${MAX_CLAIM_ENTRIES} entries`);
      out[section].set(k, entryOf(`${section}[${JSON.stringify(k)}]`, e));
    }
  }
  for (const [k, v] of Object.entries(doc))
    if (k !== 'version' && !(CLAIM_SECTIONS as readonly string[]).includes(k)) out.extra.set(k, v);
  return out;
}

function sortedObject(m: ReadonlyMap<string, ClaimEntry>): Record<string, ClaimEntry> {
  // Keys are validated names (no __proto__); field order is fixed, so equal records serialize equally.
  return Object.fromEntries(
    [...m.keys()].sort().map((k) => {
      const e = m.get(k) as ClaimEntry;
      const { owner, service, uid, since, vacated } = e;
      return [k, vacated === undefined ? { owner, service, uid, since } : { owner, service, uid, since, vacated }];
    }),
  );
}

/** claims.json text: keys sorted, one stable form, so an unchanged record is byte-equal. */
export function serializeClaimsDocument(d: ClaimsDocument): string {
  const doc = Object.fromEntries([
    ['version', CLAIMS_VERSION],
    ['hosts', sortedObject(d.hosts)],
    ['backends', sortedObject(d.backends)],
    // Absent while empty: a record without TCP Services stays byte-equal to what older writers wrote.
    ...(d.ports.size === 0 ? [] : [['ports', sortedObject(d.ports)]]),
    ...[...d.extra].sort(([a], [b]) => (a < b ? -1 : 1)),
  ]);
  return `${JSON.stringify(doc, null, 1)}\n`;
}

export function sameClaims(a: ClaimsDocument, b: ClaimsDocument): boolean {
  return serializeClaimsDocument(a) === serializeClaimsDocument(b);
}

/** How many bytes one entry adds to the serialized document (an upper bound, for the size cap). */
export function entryBytes(key: string, e: ClaimEntry): number {
  return JSON.stringify(key).length + JSON.stringify(e).length + 8;
}

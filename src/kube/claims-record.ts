// The claims record's ConfigMap (core/claims-document.ts): read it, and update it with optimistic
// concurrency. A write is a PUT carrying the resourceVersion just read (or a create when absent);
// a 409 means someone wrote in between, so the record is read again and the mutator asked again,
// and two writers never lose each other's claims. A record that does not parse is never
// overwritten: an operator's typo must not turn into an empty record that anyone may claim from.
import {
  CLAIMS_KEY,
  type ClaimsDocument,
  type ClaimsRef,
  claimsRefText,
  emptyClaims,
  parseClaimsDocument,
  serializeClaimsDocument,
} from '../core/claims-document.js';
import { errorMessage } from '../core/error-message.js';
import { isPlainObject } from '../core/json.js';
import { ApiError, type ApiTransport } from './transport.js';

/**
 * The record as read. `absent`: no ConfigMap (or no claims.json key in it): an empty record that a
 * writer may create. `unreadable`: the API refused or the document is garbage: use the (empty)
 * record, report `error`, and never write over it.
 */
export type ClaimsState =
  | { status: 'absent'; record: ClaimsDocument }
  | { status: 'read'; record: ClaimsDocument }
  | { status: 'unreadable'; record: ClaimsDocument; error: string };

/** The largest ConfigMap we read (the API server stores at most 1 MiB of data; JSON escapes). */
const MAX_CONFIGMAP_BYTES = 4 * 1024 * 1024;

function path(ref: ClaimsRef, named = true): string {
  return `/api/v1/namespaces/${ref.namespace}/configmaps${named ? `/${ref.name}` : ''}`;
}

interface Stored {
  state: ClaimsState;
  /** The object as stored, when it exists. */
  object: Record<string, unknown> | undefined;
}

async function read(transport: ApiTransport, ref: ClaimsRef): Promise<Stored> {
  let doc: unknown;
  try {
    doc = await transport.getJson(path(ref), MAX_CONFIGMAP_BYTES);
  } catch (err) {
    if (err instanceof ApiError && err.statusCode === 404)
      return { state: { status: 'absent', record: emptyClaims() }, object: undefined };
    const error = `cannot read ConfigMap ${claimsRefText(ref)}: ${errorMessage(err)}`;
    return { state: { status: 'unreadable', record: emptyClaims(), error }, object: undefined };
  }
  const object = isPlainObject(doc) ? doc : undefined;
  const data = isPlainObject(object?.data) ? object.data : {};
  const text = data[CLAIMS_KEY];
  if (text === undefined && object !== undefined) return { state: { status: 'absent', record: emptyClaims() }, object };
  try {
    if (typeof text !== 'string') throw new Error(`data.${CLAIMS_KEY} is not a string`);
    return { state: { status: 'read', record: parseClaimsDocument(text) }, object };
  } catch (err) {
    const error = `ConfigMap ${claimsRefText(ref)} ${CLAIMS_KEY} is unreadable: ${errorMessage(err)}`;
    return { state: { status: 'unreadable', record: emptyClaims(), error }, object };
  }
}

/** Reads the record; never throws (an API failure is `unreadable`). */
export async function loadClaims(transport: ApiTransport, ref: ClaimsRef): Promise<ClaimsState> {
  return (await read(transport, ref)).state;
}

export type RecordOutcome =
  | { outcome: 'created' | 'updated'; record: ClaimsDocument }
  | { outcome: 'unchanged'; record: ClaimsDocument }
  /** Not written: the stored record is unreadable (or the API refused the read). */
  | { outcome: 'unreadable'; error: string }
  /** Not written: every attempt met a write in between (409). */
  | { outcome: 'conflict'; error: string };

export const RECORD_ATTEMPTS = 5;

/**
 * Reads the record, asks `mutate` for the next one (undefined: nothing to write) and writes it
 * conditioned on what was read; on a 409 starts over, up to `attempts` times. Throws an ApiError
 * when a write fails otherwise (a 403 without write RBAC, the API unreachable).
 */
export async function recordClaims(
  transport: ApiTransport,
  ref: ClaimsRef,
  mutate: (current: ClaimsDocument) => ClaimsDocument | undefined,
  attempts = RECORD_ATTEMPTS,
): Promise<RecordOutcome> {
  for (let i = 1; ; i++) {
    const { state, object } = await read(transport, ref);
    if (state.status === 'unreadable') return { outcome: 'unreadable', error: state.error };
    const next = mutate(state.record);
    if (next === undefined) return { outcome: 'unchanged', record: state.record };
    const text = serializeClaimsDocument(next);
    try {
      if (object === undefined) {
        await transport.postJson(path(ref, false), {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name: ref.name,
            namespace: ref.namespace,
            labels: { 'app.kubernetes.io/name': 'haproxy-node-agent', 'app.kubernetes.io/component': 'edge-claims' },
          },
          data: { [CLAIMS_KEY]: text },
        });
        return { outcome: 'created', record: next };
      }
      const metadata = isPlainObject(object.metadata) ? object.metadata : {};
      if (typeof metadata.resourceVersion !== 'string' || metadata.resourceVersion === '')
        throw new ApiError(`ConfigMap ${claimsRefText(ref)} has no resourceVersion; not written`);
      // The object as read, with our key replaced: other keys, labels and annotations stay.
      const data = isPlainObject(object.data) ? object.data : {};
      await transport.putJson(path(ref), { ...object, data: { ...data, [CLAIMS_KEY]: text } });
      return { outcome: 'updated', record: next };
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 409)) throw err;
      if (i >= attempts)
        return { outcome: 'conflict', error: `ConfigMap ${claimsRefText(ref)}: ${i} writes met a conflict (409)` };
    }
  }
}

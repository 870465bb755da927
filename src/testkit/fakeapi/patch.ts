/**
 * The three PATCH flavours the apiserver accepts for built-in types:
 * JSON merge patch (RFC 7386), strategic merge patch, and JSON patch (RFC 6902).
 * All functions return a new value and never mutate their inputs.
 */
import { StatusError } from './errors.js';
import { isPlainObject, type JsonObject } from '../../core/json.js';
import { deepClone, deepEqual } from './json.js';

// ---------------------------------------------------------------- RFC 7386

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return deepClone(patch);
  const result: JsonObject = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

// ---------------------------------------------------------------- strategic merge patch

/**
 * How a list at a dotted path (array indices omitted) is merged.
 * Lists not described are atomic: the patch replaces them, as for `spec.taints`.
 */
export type ListStrategy = { readonly mergeKey: string } | { readonly primitives: true };
export type StrategicSchema = Readonly<Record<string, ListStrategy>>;

const DIRECTIVE_PATCH = '$patch';
const DIRECTIVE_RETAIN = '$retainKeys';
const PREFIX_ORDER = '$setElementOrder/';
const PREFIX_DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

function badPatch(message: string): StatusError {
  return new StatusError(400, `invalid strategic merge patch: ${message}`, 'BadRequest');
}

/** Removes `$` directives that must not end up in stored objects. */
function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isPlainObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, val] of Object.entries(v)) {
    if (!k.startsWith('$')) out[k] = stripDirectives(val);
  }
  return out;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

export function applyStrategicMergePatch(target: unknown, patch: unknown, schema: StrategicSchema): unknown {
  if (!isPlainObject(patch)) throw badPatch('patch must be a JSON object');
  const merged = mergeMap(isPlainObject(target) ? target : {}, patch, '', schema);
  return merged ?? {};
}

function mergeMap(
  original: JsonObject,
  patch: JsonObject,
  path: string,
  schema: StrategicSchema,
): JsonObject | undefined {
  const directive = patch[DIRECTIVE_PATCH];
  if (directive === 'delete') return undefined;
  if (directive === 'replace') return stripDirectives(patch) as JsonObject;
  if (directive !== undefined && directive !== 'merge')
    throw badPatch(`unknown $patch value ${JSON.stringify(directive)}`);

  let result: JsonObject = { ...original };
  const retain = patch[DIRECTIVE_RETAIN];
  if (retain !== undefined) {
    if (!Array.isArray(retain)) throw badPatch('$retainKeys must be a list');
    result = Object.fromEntries(Object.entries(result).filter(([k]) => retain.includes(k)));
  }

  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    const childPath = join(path, key);
    if (value === null) {
      delete result[key];
    } else if (isPlainObject(value)) {
      const child = mergeMap(isPlainObject(result[key]) ? (result[key] as JsonObject) : {}, value, childPath, schema);
      if (child === undefined) delete result[key];
      else result[key] = child;
    } else if (Array.isArray(value)) {
      result[key] = mergeList(result[key], value, childPath, schema);
    } else {
      result[key] = value;
    }
  }

  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith(PREFIX_DELETE_PRIMITIVE)) {
      const field = key.slice(PREFIX_DELETE_PRIMITIVE.length);
      const current = result[field];
      if (Array.isArray(value) && Array.isArray(current)) {
        result[field] = current.filter((item) => !value.some((d) => deepEqual(d, item)));
      }
    } else if (key.startsWith(PREFIX_ORDER)) {
      const field = key.slice(PREFIX_ORDER.length);
      const current = result[field];
      if (Array.isArray(value) && Array.isArray(current)) {
        result[field] = applyOrder(current, value, schema[join(path, field)]);
      }
    }
  }
  return result;
}

function mergeList(original: unknown, patch: unknown[], path: string, schema: StrategicSchema): unknown[] {
  const strategy = schema[path];
  // An element `{"$patch": "replace"}` means: replace the whole list with the other elements.
  const replaceMarker = patch.findIndex((e) => isPlainObject(e) && e[DIRECTIVE_PATCH] === 'replace');
  if (strategy === undefined || replaceMarker >= 0) {
    return stripDirectives(patch.filter((_, i) => i !== replaceMarker)) as unknown[];
  }
  const current = Array.isArray(original) ? [...original] : [];
  if ('primitives' in strategy) {
    for (const item of patch) {
      if (!current.some((c) => deepEqual(c, item))) current.push(item);
    }
    return current;
  }
  const key = strategy.mergeKey;
  for (const item of patch) {
    if (!isPlainObject(item)) throw badPatch(`list ${path} expects objects keyed by ${key}`);
    const idx = current.findIndex((c) => isPlainObject(c) && deepEqual(c[key], item[key]));
    if (item[DIRECTIVE_PATCH] === 'delete') {
      if (idx >= 0) current.splice(idx, 1);
    } else if (idx >= 0) {
      const merged = mergeMap(current[idx] as JsonObject, item, path, schema);
      if (merged === undefined) current.splice(idx, 1);
      else current[idx] = merged;
    } else {
      current.push(stripDirectives(item));
    }
  }
  return current;
}

/** `$setElementOrder`: listed elements first, in the given order; the rest keep their relative order. */
function applyOrder(items: unknown[], order: unknown[], strategy: ListStrategy | undefined): unknown[] {
  const keyOf = (v: unknown): unknown =>
    strategy && 'mergeKey' in strategy && isPlainObject(v) ? v[strategy.mergeKey] : v;
  const rank = (v: unknown): number => {
    const i = order.findIndex((o) => deepEqual(keyOf(o), keyOf(v)));
    return i < 0 ? order.length : i;
  };
  return items
    .map((item, i) => ({ item, i, r: rank(item) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.item);
}

// ---------------------------------------------------------------- RFC 6902

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

const OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new StatusError(400, `invalid JSON pointer "${pointer}"`, 'BadRequest');
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function unprocessable(message: string): StatusError {
  return new StatusError(422, message, 'Invalid');
}

function arrayIndex(token: string, length: number, allowEnd: boolean): number {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw unprocessable(`invalid array index "${token}"`);
  const i = Number(token);
  if (i > length || (!allowEnd && i === length)) throw unprocessable(`array index ${i} out of bounds`);
  return i;
}

/** Walks to the container holding the last token; the document itself is already a private copy. */
function resolveParent(doc: unknown, tokens: string[], pointer: string): { parent: unknown; last: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(t, cur.length, false)];
    else if (isPlainObject(cur) && Object.hasOwn(cur, t)) cur = cur[t];
    else throw unprocessable(`doc is missing path: "${pointer}"`);
  }
  return { parent: cur, last: tokens[tokens.length - 1] ?? '' };
}

function getAt(doc: unknown, pointer: string): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return doc;
  const { parent, last } = resolveParent(doc, tokens, pointer);
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent.length, false)];
  if (isPlainObject(parent) && Object.hasOwn(parent, last)) return parent[last];
  throw unprocessable(`doc is missing path: "${pointer}"`);
}

function addAt(doc: unknown, pointer: string, value: unknown): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return value;
  const { parent, last } = resolveParent(doc, tokens, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, true), 0, value);
  else if (isPlainObject(parent)) parent[last] = value;
  else throw unprocessable(`doc is missing path: "${pointer}"`);
  return doc;
}

function removeAt(doc: unknown, pointer: string): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw unprocessable('cannot remove the document root');
  const { parent, last } = resolveParent(doc, tokens, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, false), 1);
  else if (isPlainObject(parent) && Object.hasOwn(parent, last)) delete parent[last];
  else throw unprocessable(`doc is missing path: "${pointer}"`);
  return doc;
}

function parseOperations(ops: unknown): JsonPatchOperation[] {
  if (!Array.isArray(ops)) throw new StatusError(400, 'JSON patch must be a list of operations', 'BadRequest');
  return ops.map((op) => {
    if (!isPlainObject(op) || typeof op.op !== 'string' || !OPS.has(op.op) || typeof op.path !== 'string') {
      throw new StatusError(400, `invalid JSON patch operation ${JSON.stringify(op)}`, 'BadRequest');
    }
    if ((op.op === 'move' || op.op === 'copy') && typeof op.from !== 'string') {
      throw new StatusError(400, `JSON patch ${op.op} needs "from"`, 'BadRequest');
    }
    if ((op.op === 'add' || op.op === 'replace' || op.op === 'test') && !Object.hasOwn(op, 'value')) {
      throw new StatusError(400, `JSON patch ${op.op} needs "value"`, 'BadRequest');
    }
    return op as unknown as JsonPatchOperation;
  });
}

export function applyJsonPatch(target: unknown, operations: unknown): unknown {
  let doc = deepClone(target);
  for (const op of parseOperations(operations)) {
    switch (op.op) {
      case 'add':
        doc = addAt(doc, op.path, deepClone(op.value));
        break;
      case 'remove':
        doc = removeAt(doc, op.path);
        break;
      case 'replace':
        getAt(doc, op.path); // must exist
        doc = op.path === '' ? deepClone(op.value) : addAt(removeAt(doc, op.path), op.path, deepClone(op.value));
        break;
      case 'move': {
        const from = op.from ?? '';
        if (op.path.startsWith(`${from}/`)) throw unprocessable(`cannot move "${from}" into its own child`);
        const value = getAt(doc, from);
        doc = addAt(removeAt(doc, from), op.path, value);
        break;
      }
      case 'copy':
        doc = addAt(doc, op.path, deepClone(getAt(doc, op.from ?? '')));
        break;
      case 'test':
        if (!deepEqual(getAt(doc, op.path), op.value)) {
          throw unprocessable(`testing value ${op.path} failed`);
        }
        break;
    }
  }
  return doc;
}

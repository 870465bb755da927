// Reading parsed JSON or YAML someone else wrote (API objects, snapshots, kubeconfigs, ConfigMaps):
// one definition of "an object" for every program, so a list, null or a string where an object
// belongs never throws and never passes for one.

export type JsonObject = Record<string, unknown>;

/** A plain object: not null, not an array. */
export function isPlainObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The object, or {} for anything else: a field of a missing or malformed part reads as undefined. */
export function obj(v: unknown): JsonObject {
  return isPlainObject(v) ? v : {};
}

/** The array, or [] for anything else. */
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The string, or undefined for anything else. */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

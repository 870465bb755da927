/** Maps URL paths to what they address; knows nothing about HTTP verbs. */
import { lookupResource, type ResourceInfo } from './resources.js';

export type Route =
  | { readonly kind: 'version' }
  | { readonly kind: 'api' }
  | { readonly kind: 'apis' }
  | { readonly kind: 'apiGroup'; readonly group: string }
  | { readonly kind: 'resourceList'; readonly groupVersion: string }
  | { readonly kind: 'namespace'; readonly name: string | undefined }
  /** Core v1 Events: a read-only view of the stored events.k8s.io ones (corev1events.ts). */
  | { readonly kind: 'coreEvents'; readonly namespace: string | undefined; readonly name: string | undefined }
  | {
      readonly kind: 'resource';
      readonly info: ResourceInfo;
      readonly namespace: string | undefined;
      readonly name: string | undefined;
    };

function segments(path: string): string[] | undefined {
  try {
    return path
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined; // malformed percent-encoding
  }
}

export function route(path: string): Route | undefined {
  const segs = segments(path);
  if (!segs) return undefined;
  const [head, ...rest] = segs;
  if (head === 'version' && rest.length === 0) return { kind: 'version' };

  let group: string;
  let version: string;
  let tail: string[];
  if (head === 'api') {
    if (rest.length === 0) return { kind: 'api' };
    const [v, ...t] = rest;
    if (v !== 'v1') return undefined;
    [group, version, tail] = ['', v, t];
  } else if (head === 'apis') {
    const [g, v, ...t] = rest;
    if (g === undefined) return { kind: 'apis' };
    if (v === undefined) return { kind: 'apiGroup', group: g };
    [group, version, tail] = [g, v, t];
  } else {
    return undefined;
  }

  const groupVersion = group ? `${group}/${version}` : version;
  if (tail.length === 0) return { kind: 'resourceList', groupVersion };

  const [a, b, c, d, ...extra] = tail;
  if (a === 'namespaces' && c === undefined) {
    return group === '' ? { kind: 'namespace', name: b } : undefined;
  }
  if (group === '' && a === 'namespaces' && b !== undefined && c === 'events' && extra.length === 0)
    return { kind: 'coreEvents', namespace: b, name: d };
  if (group === '' && a === 'events' && c === undefined) return { kind: 'coreEvents', namespace: undefined, name: b };
  if (a === 'namespaces' && b !== undefined && c !== undefined) {
    const info = lookupResource(group, version, c);
    if (!info?.namespaced || extra.length > 0) return undefined;
    return { kind: 'resource', info, namespace: b, name: d };
  }
  if (a === undefined || c !== undefined) return undefined;
  const info = lookupResource(group, version, a);
  if (!info) return undefined;
  // A namespaced resource can be listed across namespaces, but not fetched by name without one.
  if (info.namespaced && b !== undefined) return undefined;
  return { kind: 'resource', info, namespace: undefined, name: b };
}

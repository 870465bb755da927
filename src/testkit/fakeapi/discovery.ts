/**
 * Legacy (non-aggregated) discovery documents. kubectl falls back to these when aggregated
 * discovery is not offered.
 */
import { RESOURCES, RESOURCE_NAMES, type ResourceInfo } from './resources.js';

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2024-12-11T00:00:00Z',
  goVersion: 'go1.23.3',
  compiler: 'gc',
  platform: 'linux/amd64',
} as const;

interface ApiResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: readonly string[];
  shortNames?: readonly string[];
}

function apiResource(info: ResourceInfo): ApiResource {
  const r: ApiResource = {
    name: info.resource,
    singularName: info.singularName,
    namespaced: info.namespaced,
    kind: info.kind,
    verbs: info.verbs,
  };
  if (info.shortNames.length > 0) r.shortNames = info.shortNames;
  return r;
}

/** Namespaces are not stored; they are synthesized so kubectl's namespace lookups succeed. */
const NAMESPACES_RESOURCE: ApiResource = {
  name: 'namespaces',
  singularName: 'namespace',
  namespaced: false,
  kind: 'Namespace',
  verbs: ['get', 'list'],
  shortNames: ['ns'],
};

function groupVersions(): Map<string, ResourceInfo[]> {
  const out = new Map<string, ResourceInfo[]>();
  for (const name of RESOURCE_NAMES) {
    const info = RESOURCES[name];
    const list = out.get(info.apiVersion) ?? [];
    list.push(info);
    out.set(info.apiVersion, list);
  }
  return out;
}

export function apiVersions(serverAddress: string): object {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

export function apiGroupList(): object {
  const groups = [...groupVersions().keys()]
    .filter((gv) => gv.includes('/'))
    .map((gv) => {
      const [name = '', version = ''] = gv.split('/');
      const v = { groupVersion: gv, version };
      return { name, versions: [v], preferredVersion: v };
    });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function apiGroup(group: string): object | undefined {
  const list = apiGroupList() as { groups: Array<{ name: string }> };
  const found = list.groups.find((g) => g.name === group);
  return found ? { kind: 'APIGroup', apiVersion: 'v1', ...found } : undefined;
}

/** APIResourceList for `v1` or `group/version`; undefined if not served. */
export function apiResourceList(groupVersion: string): object | undefined {
  const infos = groupVersions().get(groupVersion);
  if (!infos) return undefined;
  const resources = infos.map(apiResource);
  if (groupVersion === 'v1') resources.push(NAMESPACES_RESOURCE);
  resources.sort((a, b) => a.name.localeCompare(b.name));
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}

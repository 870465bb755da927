/**
 * Namespaces are not stored: every name exists and is Active, which is all kubectl
 * needs when it looks one up before acting on a namespaced object.
 */
const CREATED = '2024-01-01T00:00:00Z';
const BUILTIN = ['default', 'kube-node-lease', 'kube-public', 'kube-system'];

export function namespaceObject(name: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      uid: `00000000-0000-4000-8000-${Buffer.from(name).toString('hex').padEnd(12, '0').slice(0, 12)}`,
      resourceVersion: '1',
      creationTimestamp: CREATED,
      labels: { 'kubernetes.io/metadata.name': name },
    },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
}

export function namespaceList(inUse: Iterable<string>, resourceVersion: string): object {
  const names = [...new Set([...BUILTIN, ...inUse])].sort();
  return { kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion }, items: names.map(namespaceObject) };
}

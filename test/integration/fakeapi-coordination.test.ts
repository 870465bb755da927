// The fake API server serves ConfigMaps and coordination.k8s.io Leases well enough for the real
// kubectl (discovery, create, get, replace with optimistic concurrency, delete).
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectl, startApi } from '../lib/agent-process.js';

t.setTimeout(300_000);

t.test('kubectl: configmaps and leases', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  const dir = mkdtempSync(join(tmpdir(), 'hna-lease-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // `kubectl create configmap` sends protobuf, which the fake server refuses with a 415 (it speaks
  // JSON only, and kubectl does not fall back); `create -f` sends JSON, as the coordinator does (no
  // OpenAPI document here: --validate=false).
  await t.rejects(
    kubectl(kubeconfig, 'create', 'configmap', 'cm0', '-n', 'ns1', '--from-literal=a=b'),
    /unknown format/,
    'protobuf: a clear 415',
  );
  const cmFile = join(dir, 'cm.json');
  writeFileSync(
    cmFile,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm1', namespace: 'ns1' },
      data: { a: 'b' },
    }),
  );
  await kubectl(kubeconfig, 'create', '--validate=false', '-f', cmFile);
  t.same(api.get('configmaps', 'ns1', 'cm1')?.data, { a: 'b' });
  t.match(await kubectl(kubeconfig, 'get', 'cm', '-n', 'ns1', '-o', 'name'), 'configmap/cm1');

  const file = join(dir, 'lease.json');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'l1', namespace: 'ns1' },
      spec: { holderIdentity: 'me', leaseDurationSeconds: 15 },
    }),
  );
  await kubectl(kubeconfig, 'create', '--validate=false', '-f', file);
  const got = JSON.parse(await kubectl(kubeconfig, 'get', 'lease', '-n', 'ns1', 'l1', '-o', 'json')) as {
    metadata: { resourceVersion: string };
    spec: { holderIdentity: string };
  };
  t.equal(got.spec.holderIdentity, 'me');

  // replace with the read resourceVersion works once; a second writer with the same one conflicts.
  writeFileSync(file, JSON.stringify({ ...got, spec: { ...got.spec, holderIdentity: 'you' } }));
  await kubectl(kubeconfig, 'replace', '--validate=false', '-f', file);
  t.equal((api.get('leases', 'ns1', 'l1')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity, 'you');
  await t.rejects(
    kubectl(kubeconfig, 'replace', '--validate=false', '-f', file),
    /Conflict|modified/,
    'stale resourceVersion: 409',
  );
  await kubectl(kubeconfig, 'delete', 'lease', '-n', 'ns1', 'l1');
  t.equal(api.get('leases', 'ns1', 'l1'), undefined);
});

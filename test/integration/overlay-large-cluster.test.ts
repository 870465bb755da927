// deploy/overlays/large-cluster, rendered by the real kubectl's kustomize as an operator applies it:
// agents in coordinated mode plus the coordinator, every container on one tagged image (the release's,
// or the operator's registry when set once in the overlay), and a rollout sized for hundreds of nodes.
import t from 'tap';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml, type KubernetesObject, type V1DaemonSet, type V1Deployment } from '@kubernetes/client-node';
import { isCI } from '../lib/ci.js';
import { runChild, tempDir, which } from '../lib/spawn.js';

const root = join(import.meta.dirname, '..', '..');
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

async function render(dir: string): Promise<KubernetesObject[]> {
  const { code, stdout, stderr } = await runChild('kubectl', ['kustomize', dir], { timeoutMs: 60_000 });
  if (code !== 0) throw new Error(`kubectl kustomize ${dir}: exit ${code}: ${stderr}`);
  return loadAllYaml(stdout) as KubernetesObject[];
}

/** Every container image of every workload, as "Kind/name container: image". */
function images(objects: KubernetesObject[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const o of objects) {
    const spec = (o as V1Deployment | V1DaemonSet).spec?.template?.spec;
    if (spec === undefined) continue;
    for (const c of [...(spec.initContainers ?? []), ...spec.containers])
      out.set(`${o.kind}/${o.metadata?.name} ${c.name}`, c.image ?? '');
  }
  return out;
}

if (which('kubectl') === undefined && !isCI()) {
  t.plan(0, 'kubectl not found on PATH: the overlay checks need it (in CI this fails instead)');
} else {
  t.test('agents coordinated, the coordinator beside them, one tagged image for all', async (t) => {
    const objects = await render(join(root, 'deploy', 'overlays', 'large-cluster'));
    const ds = objects.find((o) => o.kind === 'DaemonSet') as V1DaemonSet | undefined;
    const coord = objects.find((o) => o.kind === 'Deployment') as V1Deployment | undefined;
    t.equal(ds?.metadata?.name, 'haproxy-node-agent', 'the agent DaemonSet');
    t.equal(coord?.metadata?.name, 'haproxy-node-agent-coordinator', 'the coordinator Deployment');
    t.ok(ds?.spec?.template.spec?.containers[0]?.args?.includes('--guard-mode=coordinated'), 'agents coordinated');
    const all = images(objects);
    t.ok(all.size >= 2, `containers found: ${[...all.keys()].join(', ')}`);
    t.same(new Set(all.values()), new Set([`haproxy-node-agent:${version}`]), "every container on the release's tag");
    t.equal(ds?.spec?.updateStrategy?.rollingUpdate?.maxUnavailable, '5%', 'agents roll 5% at a time');
    t.equal(ds?.spec?.updateStrategy?.rollingUpdate?.maxSurge, 0, 'no surge: host ports');
    t.equal(coord?.spec?.strategy?.rollingUpdate?.maxUnavailable, 1, 'one coordinator at a time');
    t.same(
      objects
        .filter((o) => o.kind === 'PodMonitor' || o.kind === 'PrometheusRule')
        .map((o) => `${o.kind}/${o.metadata?.name}`)
        .sort(),
      [
        'PodMonitor/haproxy-node-agent',
        'PodMonitor/haproxy-node-agent-coordinator',
        'PodMonitor/haproxy-node-agent-sync',
        'PrometheusRule/haproxy-node-agent',
      ],
      'the monitoring of deploy/monitoring comes along',
    );
  });

  t.test("the operator's registry, set once in the overlay, reaches agents and coordinator", async (t) => {
    const copy = tempDir(t, 'hna-overlay-');
    cpSync(join(root, 'deploy'), join(copy, 'deploy'), { recursive: true });
    const file = join(copy, 'deploy', 'overlays', 'large-cluster', 'kustomization.yaml');
    // What `kustomize edit set image haproxy-node-agent=registry.example/p/haproxy-node-agent:9.9.9` writes.
    writeFileSync(
      file,
      `${readFileSync(file, 'utf8')}images:\n  - name: haproxy-node-agent\n` +
        '    newName: registry.example/p/haproxy-node-agent\n    newTag: 9.9.9\n',
    );
    const all = images(await render(join(copy, 'deploy', 'overlays', 'large-cluster')));
    t.same(new Set(all.values()), new Set(['registry.example/p/haproxy-node-agent:9.9.9']));
  });

  t.test('the base alone keeps the release tag and the one-at-a-time rollout', async (t) => {
    const objects = await render(join(root, 'deploy'));
    const all = images(objects);
    t.same(new Set(all.values()), new Set([`haproxy-node-agent:${version}`]));
    const ds = objects.find((o) => o.kind === 'DaemonSet') as V1DaemonSet | undefined;
    t.equal(ds?.spec?.updateStrategy?.rollingUpdate?.maxUnavailable, 1);
  });
}

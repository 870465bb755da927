// deploy/ renders with the real kubectl's kustomize, and what it renders is the deployment we promise:
// read-only RBAC on exactly three resources, a DaemonSet that keeps answering HAProxy, the coordinator
// component, and sync's read-only role for edge hosts.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { RUN_FLAGS } from '../../src/run/run-config.js';
import { COORDINATE_FLAGS } from '../../src/coordinate/config.js';
import { DECISION_NAME, LEASE_NAME } from '../../src/core/guard-decision.js';
import { isCI } from '../lib/ci.js';
import { runChild, which } from '../lib/spawn.js';
import {
  dumpYaml,
  loadAllYaml,
  type KubernetesObject,
  type V1ClusterRole,
  type V1ClusterRoleBinding,
  type V1Container,
  type V1DaemonSet,
  type V1Deployment,
  type V1Namespace,
  type V1PodDisruptionBudget,
  type V1Role,
  type V1RoleBinding,
  type V1ServiceAccount,
} from '@kubernetes/client-node';

const deployDir = join(import.meta.dirname, '..', '..', 'deploy');
const AGENT_PORT = 9300;
const HTTP_PORT = 9290;

/** deploy/ (or an overlay) rendered by kubectl; undefined when kubectl is not installed and this is not CI. */
async function render(dir = deployDir): Promise<{ text: string; objects: KubernetesObject[] } | undefined> {
  if (which('kubectl') === undefined && !isCI()) return undefined;
  const { code, stdout, stderr } = await runChild('kubectl', ['kustomize', dir], { timeoutMs: 60_000 });
  if (code !== 0) throw new Error(`kubectl kustomize ${dir}: exit ${code}: ${stderr}`);
  return { text: stdout, objects: loadAllYaml(stdout) as KubernetesObject[] };
}

const rendered = await render();
if (rendered === undefined) {
  t.plan(0, 'kubectl not found on PATH: the deploy/ checks need it (in CI this fails instead)');
} else {
  const { text, objects } = rendered;
  const one = <T extends KubernetesObject>(kind: string): T => {
    const found = objects.filter((o) => o.kind === kind);
    if (found.length !== 1) throw new Error(`expected exactly one ${kind}, got ${found.length}`);
    return found[0] as T;
  };

  t.test('renders exactly the expected objects, every field a real API field', async (t) => {
    t.same(objects.map((o) => `${o.kind}/${o.metadata?.name}`).sort(), [
      'ClusterRole/haproxy-node-agent',
      'ClusterRoleBinding/haproxy-node-agent',
      'DaemonSet/haproxy-node-agent',
      'Namespace/haproxy-node-agent',
      'ServiceAccount/haproxy-node-agent',
    ]);
    // loadAllYaml deserializes into the typed models and silently drops unknown fields, so a typo
    // (readOnlyRootFileSystem, preStop.slep) would vanish. Compare the keys on both sides.
    const keys = (yaml: string): Set<string> => {
      const s = new Set<string>();
      for (const line of yaml.split('\n')) {
        const m = /^\s*(?:- )*([A-Za-z_$][\w./-]*):(?:\s|$)/.exec(line);
        if (m) s.add(m[1]!);
      }
      return s;
    };
    const known = keys(objects.map((o) => dumpYaml(o)).join('\n---\n'));
    const unknown = [...keys(text)].filter((k) => !known.has(k));
    t.same(unknown, [], 'no field unknown to the Kubernetes API models');
  });

  t.test('RBAC: get/list/watch on nodes, services, endpointslices, create on events, and nothing else', async (t) => {
    const role = one<V1ClusterRole>('ClusterRole');
    const rules = (role.rules ?? []).map((r) => ({
      apiGroups: [...(r.apiGroups ?? [])].sort(),
      resources: [...(r.resources ?? [])].sort(),
      verbs: [...r.verbs].sort(),
      resourceNames: r.resourceNames ?? [],
      nonResourceURLs: r.nonResourceURLs ?? [],
    }));
    t.same(rules, [
      {
        apiGroups: [''],
        resources: ['nodes', 'services'],
        verbs: ['get', 'list', 'watch'],
        resourceNames: [],
        nonResourceURLs: [],
      },
      {
        apiGroups: ['discovery.k8s.io'],
        resources: ['endpointslices'],
        verbs: ['get', 'list', 'watch'],
        resourceNames: [],
        nonResourceURLs: [],
      },
      {
        apiGroups: ['events.k8s.io'],
        resources: ['events'],
        verbs: ['create'],
        resourceNames: [],
        nonResourceURLs: [],
      },
    ]);
    t.equal(role.aggregationRule, undefined, 'no aggregation (it could pull in other rules)');
    t.equal(
      objects.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding').length,
      0,
      'no namespaced grants either',
    );

    const sa = one<V1ServiceAccount>('ServiceAccount');
    const binding = one<V1ClusterRoleBinding>('ClusterRoleBinding');
    t.same(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata?.name });
    t.same(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata?.name, namespace: sa.metadata?.namespace }]);
    const ns = one<V1Namespace>('Namespace');
    t.equal(sa.metadata?.namespace, ns.metadata?.name, 'ServiceAccount lives in the rendered Namespace');
  });

  t.test('DaemonSet: placement, identity, rollout', async (t) => {
    const ds = one<V1DaemonSet>('DaemonSet');
    const sa = one<V1ServiceAccount>('ServiceAccount');
    const pod = ds.spec?.template.spec;
    if (pod === undefined) throw new Error('no pod spec');
    t.equal(ds.metadata?.namespace, sa.metadata?.namespace);
    t.equal(pod.serviceAccountName, sa.metadata?.name, 'runs as the bound ServiceAccount');
    t.equal(pod.hostNetwork, true, 'hostNetwork: HAProxy probes the node address');
    t.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
    t.equal(pod.priorityClassName, 'system-node-critical');
    t.ok(
      (pod.tolerations ?? []).some((x) => x.operator === 'Exists' && x.key === undefined && x.effect === undefined),
      'a catch-all toleration (operator Exists, no key, no effect): ' +
        'runs on cordoned and tainted nodes, never evicted by NoExecute',
    );
    t.same(ds.spec?.selector.matchLabels, { 'app.kubernetes.io/name': 'haproxy-node-agent' });
    t.match(
      ds.spec?.template.metadata?.labels ?? {},
      ds.spec?.selector.matchLabels ?? { missing: 'selector' },
      'template labels match the selector',
    );

    const strategy = ds.spec?.updateStrategy;
    t.equal(strategy?.type, 'RollingUpdate');
    t.equal(strategy?.rollingUpdate?.maxUnavailable, 1, 'one node at a time');
    t.equal(strategy?.rollingUpdate?.maxSurge, 0, 'maxSurge 0: two pods cannot bind the same host ports');
    t.ok(
      (ds.spec?.minReadySeconds ?? 0) >= 5,
      'minReadySeconds: a new agent answers for a while before the next node rolls',
    );

    const ann = ds.spec?.template.metadata?.annotations ?? {};
    t.same(
      { scrape: ann['prometheus.io/scrape'], port: ann['prometheus.io/port'], path: ann['prometheus.io/path'] },
      { scrape: 'true', port: String(HTTP_PORT), path: '/metrics' },
      'Prometheus scrape hints point at the HTTP port',
    );
  });

  t.test('DaemonSet: container, probes, shutdown, resources', async (t) => {
    const ds = one<V1DaemonSet>('DaemonSet');
    const pod = ds.spec?.template.spec;
    if (pod === undefined) throw new Error('no pod spec');
    t.equal(pod.containers.length, 1);
    t.equal(pod.initContainers, undefined, 'no init containers');
    const c = pod.containers[0] as V1Container;
    t.match(c.image, /^haproxy-node-agent:\d+\.\d+\.\d+$/, 'image tag pinned by kustomize images:');
    t.equal(c.command, undefined, 'the image ENTRYPOINT runs the CLI');
    t.equal(c.args?.[0], 'run');
    t.ok(
      c.args?.includes(`--agent-port=${AGENT_PORT}`) && c.args?.includes(`--http-port=${HTTP_PORT}`),
      'ports passed as flags match the ports below',
    );

    // Every flag and variable given is one the CLI reads (a typo would stop the daemon, or be ignored).
    const flagNames = new Set<string>(RUN_FLAGS.map((f) => f.name));
    const envNames = new Set<string>(['NODE_OPTIONS', 'GLIBC_TUNABLES']);
    for (const f of RUN_FLAGS) if ('env' in f) envNames.add(f.env);
    t.same(
      (c.args ?? []).slice(1).filter((a) => !flagNames.has(/^--([a-z-]+)/.exec(a)?.[1] ?? '')),
      [],
      'args are known flags',
    );
    t.same(
      (c.env ?? []).map((e) => e.name).filter((n) => !envNames.has(n)),
      [],
      'env names are ones the CLI reads',
    );

    const nodeName = c.env?.find((e) => e.name === 'NODE_NAME');
    t.same(nodeName?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName', 'NODE_NAME from the downward API');
    for (const name of ['HAPROXY_NODE_AGENT_AGENT_ADDRESS', 'HAPROXY_NODE_AGENT_HTTP_ADDRESS']) {
      t.same(
        c.env?.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath,
        'status.hostIP',
        `${name} is the node's own IP, not every address`,
      );
    }
    t.notOk(
      c.args?.some((a) => /^--(agent|http)-address/.test(a)),
      'no address flag overrides the node IP',
    );
    t.equal(
      c.env?.find((e) => e.name === 'HAPROXY_NODE_AGENT_STATUS_DETAIL'),
      undefined,
      '/status detail for clients on the node only (the default)',
    );
    t.equal(nodeName?.value, undefined);
    t.equal(
      c.env?.find((e) => e.name === 'HAPROXY_NODE_AGENT_EVENTS'),
      undefined,
      'Events on (the default): the ClusterRole grants create',
    );
    t.equal(
      c.env?.find((e) => e.name === 'KUBECONFIG'),
      undefined,
      'in-cluster service account, no kubeconfig',
    );

    t.same(
      (c.ports ?? []).map((p) => ({
        name: p.name,
        containerPort: p.containerPort,
        hostPort: p.hostPort,
        protocol: p.protocol,
      })),
      [
        { name: 'agent', containerPort: AGENT_PORT, hostPort: AGENT_PORT, protocol: 'TCP' },
        { name: 'http', containerPort: HTTP_PORT, hostPort: HTTP_PORT, protocol: 'TCP' },
      ],
    );

    t.same(
      { path: c.readinessProbe?.httpGet?.path, port: c.readinessProbe?.httpGet?.port },
      { path: '/readyz', port: HTTP_PORT },
      'readiness: /readyz on the HTTP port',
    );
    t.same(
      { path: c.livenessProbe?.httpGet?.path, port: c.livenessProbe?.httpGet?.port },
      { path: '/livez', port: HTTP_PORT },
      'liveness: /livez on the HTTP port (never depends on the API server)',
    );
    const live = c.livenessProbe;
    t.ok(
      (live?.periodSeconds ?? 10) * (live?.failureThreshold ?? 3) >= 20,
      'liveness tolerates a few slow seconds before a restart',
    );

    // preStop pause without a shell, and a grace period that covers it plus the daemon's 10 s stop deadline.
    const pause = c.lifecycle?.preStop?.sleep?.seconds;
    t.equal(c.lifecycle?.preStop?.exec, undefined, 'no exec preStop: the distroless image has no shell or sleep');
    t.ok(
      pause !== undefined && pause >= 3 && pause <= 15,
      `preStop sleep ${pause}s: long enough for HAProxy to hear the last answer`,
    );
    t.ok((pod.terminationGracePeriodSeconds ?? 30) >= (pause ?? 0) + 10, 'grace >= preStop + the 10 s stop deadline');

    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    t.same({ cpu: req.cpu, memory: req.memory }, { cpu: '20m', memory: '64Mi' }, 'requests: measured idle use');
    t.same(lim, { memory: '192Mi' }, 'memory limit only: no CPU limit, so no CFS throttling on the probe path');
    const heap = c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
    const heapMb = Number(/--max-old-space-size=(\d+)/.exec(heap)?.[1] ?? NaN);
    t.ok(heapMb > 0 && heapMb <= 192 * 0.75, `V8 heap cap (${heapMb} MB) well below the 192Mi limit`);
    t.equal(
      c.env?.find((e) => e.name === 'GLIBC_TUNABLES')?.value,
      'glibc.malloc.mmap_threshold=131072',
      'glibc returns freed list pages to the kernel',
    );
  });

  t.test('DaemonSet: security context and volumes', async (t) => {
    const ds = one<V1DaemonSet>('DaemonSet');
    const pod = ds.spec?.template.spec;
    if (pod === undefined) throw new Error('no pod spec');
    const c = pod.containers[0] as V1Container;
    t.equal(pod.securityContext?.runAsNonRoot, true);
    t.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    t.equal(pod.hostPID, undefined, 'no host PID namespace');
    t.equal(pod.hostIPC, undefined, 'no host IPC namespace');
    const sc = c.securityContext;
    t.equal(sc?.runAsNonRoot, true, 'container: runAsNonRoot');
    t.equal(sc?.runAsUser, 65532, 'container: the image user (distroless nonroot)');
    t.equal(sc?.runAsGroup, 65532);
    t.equal(sc?.readOnlyRootFilesystem, true, 'container: readOnlyRootFilesystem');
    t.equal(sc?.allowPrivilegeEscalation, false, 'container: allowPrivilegeEscalation false');
    t.equal(sc?.privileged, undefined, 'container: not privileged');
    t.same(sc?.capabilities, { drop: ['ALL'] }, 'container: drop ALL capabilities, add none');
    t.equal(sc?.seccompProfile?.type, 'RuntimeDefault', 'container: seccomp RuntimeDefault');

    // The only host path: the break-glass override directory, read-only inside the pod.
    const hostPaths = (pod.volumes ?? []).filter((v) => v.hostPath !== undefined);
    t.same(
      hostPaths.map((v) => ({ name: v.name, path: v.hostPath?.path, type: v.hostPath?.type })),
      [{ name: 'override', path: '/run/haproxy-node-agent', type: 'DirectoryOrCreate' }],
    );
    const mounts = Object.fromEntries(
      (c.volumeMounts ?? []).map((m) => [m.mountPath, { name: m.name, readOnly: m.readOnly ?? false }]),
    );
    const overrideDir = dirname(RUN_FLAGS.find((f) => f.name === 'override-file')?.default ?? '/nowhere/x');
    t.equal(overrideDir, '/run/haproxy-node-agent', '--override-file default directory');
    t.same(
      mounts[overrideDir],
      { name: 'override', readOnly: true },
      'override directory mounted read-only where --override-file looks',
    );
    const writable = Object.entries(mounts)
      .filter(([, m]) => !m.readOnly)
      .map(([p]) => p);
    t.same(writable, ['/tmp'], 'the only writable path is /tmp');
    const tmp = (pod.volumes ?? []).find((v) => v.name === mounts['/tmp']?.name);
    t.ok(tmp?.emptyDir !== undefined && tmp.emptyDir.sizeLimit !== undefined, '/tmp is a size-limited emptyDir');
  });

  // ---- the coordinator component, used the way the README shows: an overlay of deploy/ ----
  const overlay = mkdtempSync(join(tmpdir(), 'hna-deploy-'));
  writeFileSync(
    join(overlay, 'kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n` +
      `resources:\n  - ${relative(overlay, deployDir)}\n` +
      `components:\n  - ${relative(overlay, join(deployDir, 'components', 'coordinator'))}\n`,
  );
  const coordinated = await render(overlay).finally(() => rmSync(overlay, { recursive: true, force: true }));
  if (coordinated === undefined) throw new Error('kubectl vanished');
  const all = coordinated.objects;
  const named = <T extends KubernetesObject>(kind: string, name: string): T => {
    const found = all.filter((o) => o.kind === kind && o.metadata?.name === name);
    if (found.length !== 1) throw new Error(`expected exactly one ${kind}/${name}, got ${found.length}`);
    return found[0] as T;
  };
  const rulesOf = (r: V1Role | V1ClusterRole) =>
    (r.rules ?? []).map((x) => ({
      apiGroups: x.apiGroups ?? [],
      resources: x.resources ?? [],
      verbs: [...x.verbs].sort(),
      resourceNames: x.resourceNames ?? [],
    }));

  t.test('coordinator component: the base plus the coordinator, agents switched to coordinated', async (t) => {
    t.same(
      all.map((o) => `${o.kind}/${o.metadata?.name}`).sort(),
      [
        ...objects.map((o) => `${o.kind}/${o.metadata?.name}`),
        'ClusterRole/haproxy-node-agent-coordinator',
        'ClusterRoleBinding/haproxy-node-agent-coordinator',
        'Deployment/haproxy-node-agent-coordinator',
        'PodDisruptionBudget/haproxy-node-agent-coordinator',
        'Role/haproxy-node-agent-coordinator',
        'Role/haproxy-node-agent-guard-reader',
        'RoleBinding/haproxy-node-agent-coordinator',
        'RoleBinding/haproxy-node-agent-guard-reader',
        'ServiceAccount/haproxy-node-agent-coordinator',
      ].sort(),
    );
    const ds = named<V1DaemonSet>('DaemonSet', 'haproxy-node-agent');
    const args = ds.spec?.template.spec?.containers[0]?.args ?? [];
    t.ok(args.includes('--guard-mode=coordinated'), 'agents in coordinated mode');
    t.notOk(
      args.some((a) => a.startsWith('--guard-namespace')),
      'the default --guard-namespace is the namespace everything lives in',
    );
    t.equal(ds.metadata?.namespace, RUN_FLAGS.find((f) => f.name === 'guard-namespace')?.default);
  });

  t.test(
    'coordinator RBAC: reads Nodes; writes only its Lease and ConfigMap; agents read only that ConfigMap',
    async (t) => {
      t.same(rulesOf(named<V1ClusterRole>('ClusterRole', 'haproxy-node-agent-coordinator')), [
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'], resourceNames: [] },
      ]);
      t.same(rulesOf(named<V1Role>('Role', 'haproxy-node-agent-coordinator')), [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          verbs: ['get', 'update'],
          resourceNames: [LEASE_NAME],
        },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'update'], resourceNames: [DECISION_NAME] },
        // create cannot be limited by name (RBAC does not know it before the object exists).
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'], resourceNames: [] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['create'], resourceNames: [] },
      ]);
      t.same(rulesOf(named<V1Role>('Role', 'haproxy-node-agent-guard-reader')), [
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'], resourceNames: [DECISION_NAME] },
      ]);
      const sa = (name: string) => ({ kind: 'ServiceAccount', name, namespace: 'haproxy-node-agent' });
      const crb = named<V1ClusterRoleBinding>('ClusterRoleBinding', 'haproxy-node-agent-coordinator');
      t.same(
        [crb.roleRef.name, crb.subjects],
        ['haproxy-node-agent-coordinator', [sa('haproxy-node-agent-coordinator')]],
      );
      const rb = named<V1RoleBinding>('RoleBinding', 'haproxy-node-agent-coordinator');
      t.same(
        [rb.roleRef.kind, rb.roleRef.name, rb.subjects],
        ['Role', 'haproxy-node-agent-coordinator', [sa('haproxy-node-agent-coordinator')]],
      );
      const agentRb = named<V1RoleBinding>('RoleBinding', 'haproxy-node-agent-guard-reader');
      t.same(
        [agentRb.roleRef.kind, agentRb.roleRef.name, agentRb.subjects],
        ['Role', 'haproxy-node-agent-guard-reader', [sa('haproxy-node-agent')]],
      );
      t.same(
        rulesOf(named<V1ClusterRole>('ClusterRole', 'haproxy-node-agent')),
        rulesOf(one<V1ClusterRole>('ClusterRole')),
        "the agents' ClusterRole is unchanged",
      );
    },
  );

  t.test('coordinator Deployment: 2 replicas on different nodes, PDB, probes, flags, security', async (t) => {
    const d = named<V1Deployment>('Deployment', 'haproxy-node-agent-coordinator');
    const pod = d.spec?.template.spec;
    if (pod === undefined) throw new Error('no pod spec');
    t.equal(d.spec?.replicas, 2);
    t.equal(pod.serviceAccountName, 'haproxy-node-agent-coordinator');
    const labels = d.spec?.selector.matchLabels ?? {};
    t.match(d.spec?.template.metadata?.labels ?? {}, labels, 'template labels match the selector');
    t.not(labels['app.kubernetes.io/component'], undefined, 'the selector does not also match the agents');
    const anti = pod.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    t.same(
      anti.map((a) => [a.topologyKey, a.labelSelector?.matchLabels]),
      [['kubernetes.io/hostname', labels]],
      'never two on one node',
    );
    t.equal(
      d.spec?.strategy?.rollingUpdate?.maxSurge,
      0,
      'maxSurge 0: required anti-affinity cannot deadlock a 2-node cluster',
    );
    const pdb = named<V1PodDisruptionBudget>('PodDisruptionBudget', 'haproxy-node-agent-coordinator');
    t.equal(pdb.spec?.minAvailable, 1);
    t.same(pdb.spec?.selector?.matchLabels, labels);

    const c = pod.containers[0] as V1Container;
    t.equal(c.args?.[0], 'coordinate');
    const known = new Set<string>(COORDINATE_FLAGS.map((f) => f.name));
    t.same(
      (c.args ?? []).slice(1).filter((a) => !known.has(/^--([a-z-]+)/.exec(a)?.[1] ?? '')),
      [],
      'args are known coordinate flags',
    );
    const envNames = new Set<string>(['NODE_OPTIONS', 'POD_NAME']);
    for (const f of COORDINATE_FLAGS) if ('env' in f) envNames.add(f.env);
    t.same(
      (c.env ?? []).map((e) => e.name).filter((n) => !envNames.has(n)),
      [],
      'env names are ones the CLI reads',
    );
    t.same(
      c.env?.find((e) => e.name === 'HAPROXY_NODE_AGENT_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath,
      'metadata.namespace',
      '--namespace = its own namespace',
    );
    t.same(
      c.env?.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath,
      'metadata.name',
      'identity from the pod name',
    );
    const port = Number(/--http-port=(\d+)/.exec((c.args ?? []).join(' '))?.[1]);
    t.same([c.readinessProbe?.httpGet?.path, c.readinessProbe?.httpGet?.port], ['/readyz', port]);
    t.same([c.livenessProbe?.httpGet?.path, c.livenessProbe?.httpGet?.port], ['/livez', port]);
    const sc = c.securityContext;
    t.same(
      [sc?.runAsNonRoot, sc?.readOnlyRootFilesystem, sc?.allowPrivilegeEscalation, sc?.capabilities?.drop],
      [true, true, false, ['ALL']],
    );
    t.equal(pod.hostNetwork, undefined, 'no host network');
    t.same(c.resources?.limits, { memory: '256Mi' });
  });

  // ---- sync's access (reads, the claims record, one annotation on Services), applied on its own
  // in every cluster an edge host watches ----
  const syncRbac = await render(join(deployDir, 'components', 'sync-rbac'));
  if (syncRbac === undefined) throw new Error('kubectl vanished');

  t.test('sync-rbac: reads nodes and services, patches services, get/update on the claims record', async (t) => {
    const s = syncRbac.objects;
    t.same(s.map((o) => `${o.kind}/${o.metadata?.name}`).sort(), [
      'ClusterRole/haproxy-node-agent-sync',
      'ClusterRoleBinding/haproxy-node-agent-sync',
      'ConfigMap/haproxy-node-agent-edge-claims',
      'Role/haproxy-node-agent-sync-claims',
      'RoleBinding/haproxy-node-agent-sync-claims',
      'ServiceAccount/haproxy-node-agent-sync',
    ]);
    const claimsRole = s.find((o) => o.kind === 'Role') as V1Role;
    t.same(
      rulesOf(claimsRole),
      [
        {
          apiGroups: [''],
          resources: ['configmaps'],
          verbs: ['get', 'update'],
          resourceNames: ['haproxy-node-agent-edge-claims'],
        },
      ],
      'the one write: the claims ConfigMap, by name (no create, no other ConfigMap)',
    );
    const cm = s.find((o) => o.kind === 'ConfigMap') as KubernetesObject & { data?: unknown };
    t.equal(cm.data, undefined, 'shipped without data, so a re-apply never resets the record');
    const role = s.find((o) => o.kind === 'ClusterRole') as V1ClusterRole;
    const rules = role.rules ?? [];
    t.same(
      [...new Set(rules.flatMap((r) => r.verbs))].filter((v) => !['get', 'list', 'watch', 'patch'].includes(v)),
      [],
      'no verb beyond get, list, watch and patch (no create, update or delete)',
    );
    t.same(
      [
        ...new Set(rules.flatMap((r) => (r.resources ?? []).map((res) => `${(r.apiGroups ?? []).join(',')}/${res}`))),
      ].sort(),
      ['/nodes', '/services'],
      'exactly nodes and services of the core API group',
    );
    // The one write on tenants' objects: PREFIX/assigned-tcp-port on a TCP Service (docs/sync.md).
    t.same(rulesOf(role), [
      { apiGroups: [''], resources: ['nodes', 'services'], verbs: ['get', 'list', 'watch'], resourceNames: [] },
      { apiGroups: [''], resources: ['services'], verbs: ['patch'], resourceNames: [] },
    ]);
    t.same(
      rules.flatMap((r) => r.nonResourceURLs ?? []),
      [],
      'no non-resource URLs',
    );
    t.equal(role.aggregationRule, undefined, 'no aggregation (it could pull in other rules)');
    const sa = s.find((o) => o.kind === 'ServiceAccount') as V1ServiceAccount;
    t.equal(sa.metadata?.namespace, 'haproxy-node-agent', "in the agents' namespace");
    const crb = s.find((o) => o.kind === 'ClusterRoleBinding') as V1ClusterRoleBinding;
    t.same(crb.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata?.name });
    t.same(crb.subjects, [{ kind: 'ServiceAccount', name: sa.metadata?.name, namespace: sa.metadata?.namespace }]);
  });

  const beside = mkdtempSync(join(tmpdir(), 'hna-deploy-'));
  writeFileSync(
    join(beside, 'kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n` +
      `resources:\n  - ${relative(beside, deployDir)}\n` +
      `  - ${relative(beside, join(deployDir, 'components', 'sync-rbac'))}\n`,
  );
  const withSync = await render(beside).finally(() => rmSync(beside, { recursive: true, force: true }));

  t.test('sync-rbac beside deploy/ in one overlay: no clash, the agents unchanged', async (t) => {
    t.same(
      withSync?.objects.map((o) => `${o.kind}/${o.metadata?.name}`).sort(),
      [...objects, ...syncRbac.objects].map((o) => `${o.kind}/${o.metadata?.name}`).sort(),
    );
  });
}

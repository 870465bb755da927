// deploy/monitoring as an operator installs it: `kubectl kustomize` renders the PodMonitors, the
// PrometheusRule and the dashboard ConfigMap; every alert the issue names ships with its runbook
// heading; `promtool check rules` and `promtool test rules` (a unit test per alert) pass; and no rule
// or dashboard panel names a metric the code (agent, coordinator, sync) does not export.
import t from 'tap';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import type { Registry } from 'prom-client';
import type { KubernetesObject } from '@kubernetes/client-node';
import { createMetrics } from '../../src/run/metrics.js';
import { coordinatorMetrics } from '../../src/coordinate/metrics.js';
import { syncMetrics } from '../../src/sync/metrics.js';
import { isCI } from '../lib/ci.js';
import { runChild, tempDir, which } from '../lib/spawn.js';
import {
  ALERTS,
  RUNBOOK_BASE,
  alertRules,
  dashboardExprs,
  githubAnchors,
  metricNames,
  monitoringDir,
  readDashboard,
  rulesFile,
} from '../lib/monitoring.js';

const root = join(import.meta.dirname, '..', '..');

// Without the tool (and not in CI, where it must be there) the checks that need it are skipped, with why.
const missing = (tool: string, why: string): string | false =>
  which(tool) === undefined && !isCI() ? `${tool} not found on PATH: ${why} skipped (in CI this fails instead)` : false;

t.test(
  'kubectl kustomize deploy/monitoring: three PodMonitors, the PrometheusRule, the dashboard ConfigMap',
  { skip: missing('kubectl', 'the rendering check') },
  async (t) => {
    const r = await runChild('kubectl', ['kustomize', monitoringDir], { timeoutMs: 60_000 });
    t.equal(r.code, 0, `renders on its own: ${r.stderr}`);
    const objects = (r.stdout.split(/^---$/m).map((d) => load(d)) as KubernetesObject[]).filter(Boolean);
    t.same(objects.map((o) => `${o.kind}/${o.metadata?.name}`).sort(), [
      'ConfigMap/haproxy-node-agent-dashboard',
      'PodMonitor/haproxy-node-agent',
      'PodMonitor/haproxy-node-agent-coordinator',
      'PodMonitor/haproxy-node-agent-sync',
      'PrometheusRule/haproxy-node-agent',
    ]);
    t.same(new Set(objects.map((o) => o.metadata?.namespace)), new Set(['haproxy-node-agent']), 'all in the namespace');

    const cm = objects.find((o) => o.kind === 'ConfigMap') as KubernetesObject & { data?: Record<string, string> };
    t.equal(cm.metadata?.labels?.grafana_dashboard, '1', "the Grafana sidecar's label");
    t.same(Object.keys(cm.data ?? {}), ['haproxy-node-agent.json']);
    t.same(JSON.parse(cm.data?.['haproxy-node-agent.json'] ?? '{}'), readDashboard(), 'the dashboard JSON, unchanged');

    const rule = objects.find((o) => o.kind === 'PrometheusRule') as KubernetesObject & { spec?: unknown };
    t.same(rule.spec, (load(readFileSync(rulesFile, 'utf8')) as { spec: unknown }).spec, 'the rules as written');

    // Each PodMonitor sets the job the alerts select, scrapes the named port, and selects only its pods.
    type PodMonitor = KubernetesObject & {
      spec: {
        selector: { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string }> };
        podMetricsEndpoints: Array<{ port: string; path: string; relabelings: Array<Record<string, unknown>> }>;
      };
    };
    const pm = (name: string) =>
      objects.find((o) => o.kind === 'PodMonitor' && o.metadata?.name === name) as PodMonitor;
    const selects = (m: PodMonitor, labels: Record<string, string>): boolean =>
      Object.entries(m.spec.selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
      (m.spec.selector.matchExpressions ?? []).every((e) => e.operator === 'DoesNotExist' && !(e.key in labels));
    const podLabels = (file: string): Record<string, string> =>
      (
        load(readFileSync(join(root, 'deploy', file), 'utf8')) as {
          spec: { template: { metadata: { labels: Record<string, string> } } };
        }
      ).spec.template.metadata.labels;
    const agentPods = podLabels('base/daemonset.yaml');
    const coordinatorPods = podLabels('components/coordinator/deployment.yaml');
    const syncPods = { ...agentPods, 'app.kubernetes.io/component': 'sync' };
    for (const [name, job, mine, others] of [
      ['haproxy-node-agent', 'haproxy-node-agent', agentPods, [coordinatorPods, syncPods]],
      ['haproxy-node-agent-coordinator', 'haproxy-node-agent-coordinator', coordinatorPods, [agentPods, syncPods]],
      ['haproxy-node-agent-sync', 'haproxy-node-agent-sync', syncPods, [agentPods, coordinatorPods]],
    ] as const) {
      const m = pm(name);
      t.ok(selects(m, mine), `${name} selects its pods`);
      t.notOk(
        others.some((o) => selects(m, o)),
        `${name} selects no other component's pods`,
      );
      const [ep] = m.spec.podMetricsEndpoints;
      t.same([ep?.port, ep?.path], ['http', '/metrics'], `${name}: the named container port http, /metrics`);
      t.ok(
        ep?.relabelings.some((r) => r.targetLabel === 'job' && r.replacement === job),
        `${name} sets job="${job}"`,
      );
    }
    const ports = (file: string) =>
      readFileSync(join(root, 'deploy', file), 'utf8').match(/- name: http\n\s+containerPort: \d+/g) ?? [];
    t.equal(ports('base/daemonset.yaml').length, 1, 'the DaemonSet names its HTTP port http');
    t.equal(ports('components/coordinator/deployment.yaml').length, 1, 'so does the coordinator');
  },
);

t.test('every alert the issue names ships with severity, summary, description and its runbook heading', async (t) => {
  const rules = alertRules();
  t.same(rules.map((r) => r.alert).sort(), [...ALERTS].sort(), 'exactly these alerts');
  const anchors = githubAnchors(readFileSync(join(root, 'docs', 'runbooks.md'), 'utf8'));
  for (const r of rules) {
    t.match(r.labels, { severity: /^(critical|warning)$/ }, `${r.alert}: severity`);
    t.ok((r.annotations.summary ?? '').length > 10, `${r.alert}: summary`);
    t.ok((r.annotations.description ?? '').length > 40, `${r.alert}: description`);
    const url = r.annotations.runbook_url ?? '';
    t.equal(url, `${RUNBOOK_BASE}#${r.alert.toLowerCase()}`, `${r.alert}: runbook_url names its own heading`);
    t.ok(anchors.has(url.split('#')[1] ?? ''), `${r.alert}: docs/runbooks.md has that heading`);
  }
  const alertAnchors = new Set(rules.map((r) => r.alert.toLowerCase()));
  t.same(
    [...anchors].filter((a) => a.startsWith('haproxy') && !alertAnchors.has(a)),
    [],
    'no runbook heading without its alert',
  );
});

t.test("docs/monitoring.md's alert table: every alert, with its for: and severity", async (t) => {
  const doc = readFileSync(join(root, 'docs', 'monitoring.md'), 'utf8');
  const rows = [...doc.matchAll(/^\| `(\w+)` \| ([^|]+) \| (\w+) \|/gm)].map((m) => [m[1], m[2]?.trim(), m[3]]);
  t.same(
    rows,
    alertRules().map((r) => [r.alert, r.for ?? '— (15m window)', r.labels.severity]),
    'same alerts, same order, same for: and severity',
  );
});

/** Every metric name the code registers (histograms with their series), from the registries themselves. */
async function exported(): Promise<Set<string>> {
  const agent = createMetrics({
    secondsSinceContact: () => 1,
    snapshotSizes: () => ({}),
    synced: () => true,
    nodeReplyKind: () => 'ready',
    override: () => undefined,
    stale: () => false,
    slowStartFactor: () => 1,
    dedicatedPorts: () => 0,
    guard: () => ({ held: 0, draining: 0, selfHeld: false }),
  });
  const coordinator = coordinatorMetrics({
    leader: () => false,
    generation: () => undefined,
    nodes: () => 0,
    guard: () => ({ explicit: [], draining: [], held: [] }) as never,
  });
  const sync = syncMetrics({
    pendingChanges: () => 0,
    serversDraining: () => 0,
    oldWorkers: () => undefined,
    held: () => false,
    haproxyUp: () => true,
    synced: () => true,
    secondsSinceContact: () => undefined,
    servers: () => ({ desired: 0, running: undefined }),
  });
  const names = new Set<string>();
  for (const reg of [agent.registry, coordinator.registry, sync.registry] as Registry[]) {
    for (const m of await reg.getMetricsAsJSON()) {
      names.add(m.name);
      if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    }
  }
  return names;
}

t.test('rules and dashboard name only metrics the code exports', async (t) => {
  const names = await exported();
  const used = new Map<string, string>();
  for (const r of alertRules()) for (const n of metricNames(r.expr)) used.set(n, `alert ${r.alert}`);
  for (const { panel, expr } of dashboardExprs()) for (const n of metricNames(expr)) used.set(n, `panel "${panel}"`);
  t.ok(used.size > 30, `the names are found (${used.size})`);
  // `up` is Prometheus' own, per target.
  const unknown = [...used].filter(([n]) => n !== 'up' && !names.has(n));
  t.same(
    unknown,
    [],
    'every metric a rule or panel names is exported by src/run/, src/coordinate/ or src/sync/metrics.ts',
  );
  // sync's alert and panels are checked like the others now that sync registers its metrics.
  for (const n of ['haproxy_node_agent_sync_reloads_total', 'haproxy_node_agent_sync_old_workers'])
    t.ok(used.has(n) && names.has(n), `${n}: used by a rule or panel, and exported by sync`);
  // The extraction itself: a misspelt name would be caught.
  t.same(metricNames('sum by (reason) (rate(haproxy_node_agent_probez_total{job="x",a=~"b|c"}[5m])) or vector(1e6)'), [
    'haproxy_node_agent_probez_total',
  ]);
});

t.test(
  'promtool check rules, and promtool test rules: every alert fires in a unit test',
  { skip: missing('promtool', 'the promtool checks (Debian: apt-get install prometheus)') },
  async (t) => {
    const dir = tempDir(t);
    const doc = load(readFileSync(rulesFile, 'utf8')) as { spec: { groups: unknown[] } };
    writeFileSync(join(dir, 'rules.yaml'), JSON.stringify({ groups: doc.spec.groups }));
    const check = await runChild('promtool', ['check', 'rules', join(dir, 'rules.yaml')]);
    t.equal(check.code, 0, `promtool check rules: ${check.stdout}${check.stderr}`);
    t.match(check.stdout, `SUCCESS: ${ALERTS.length} rules found`);

    const fixture = join(root, 'test', 'fixtures', 'monitoring', 'alerts-test.yaml');
    copyFileSync(fixture, join(dir, 'alerts-test.yaml'));
    const run = await runChild('promtool', ['test', 'rules', join(dir, 'alerts-test.yaml')]);
    t.equal(run.code, 0, `promtool test rules: ${run.stdout}${run.stderr}`);

    // Each alert has at least one case where it fires and one where it stays silent.
    const tests = (
      load(readFileSync(fixture, 'utf8')) as {
        tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
      }
    ).tests.flatMap((x) => x.alert_rule_test);
    for (const a of ALERTS) {
      t.ok(
        tests.some((x) => x.alertname === a && x.exp_alerts.length > 0),
        `${a}: a unit test where it fires`,
      );
      t.ok(
        tests.some((x) => x.alertname === a && x.exp_alerts.length === 0),
        `${a}: a unit test where it does not`,
      );
    }
  },
);

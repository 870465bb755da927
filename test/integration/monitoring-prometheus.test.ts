// A real Prometheus (Debian's) scrapes a real agent against the wire-level fake API, with the
// shipped rules (their `for:` cut to zero in a generated copy): nothing fires while all is well;
// the kube-proxy, override, API-away and agent-down alerts each fire on their fault; every dashboard
// query is valid PromQL and the agent's panels return data; `promtool check metrics` finds nothing
// to say about any haproxy_node_agent_ series. One Prometheus run, short intervals, faults in a row.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { httpGet, startSyncedAgent } from '../lib/agent-process.js';
import { isCI } from '../lib/ci.js';
import { deadline } from '../lib/deadline.js';
import { StandInHealthz } from '../lib/healthz.js';
import { dashboardExprs, grafanaExpand, metricNames, ruleGroups } from '../lib/monitoring.js';
import { probe } from '../lib/probe.js';
import { spawnChild, tempDir, which } from '../lib/spawn.js';
import { until } from '../lib/until.js';

/**
 * Metrics no panel can show in this run, and why: labelled counters appear with their first event
 * (no probe is rejected, no annotation, override file or agent port refused, no object too large
 * here), and the coordinator decision gauges exist only in --guard-mode=coordinated.
 */
const NO_DATA_HERE = new Set([
  'haproxy_node_agent_probe_rejections_total',
  'haproxy_node_agent_invalid_annotations_total',
  'haproxy_node_agent_override_errors_total',
  'haproxy_node_agent_agent_port_refusals_total',
  'haproxy_node_agent_objects_too_large_total',
  'haproxy_node_agent_guard_decision',
  'haproxy_node_agent_guard_decision_age_seconds',
]);

const skip =
  (which('prometheus') === undefined || which('promtool') === undefined) && !isCI()
    ? 'prometheus or promtool not found on PATH (Debian: apt-get install prometheus): skipped; in CI this fails'
    : false;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise((resolve) => s.close(resolve));
  return port;
}

interface Alert {
  labels: Record<string, string>;
  state: string;
}

t.test(
  'a real Prometheus scraping a real agent: alerts fire on their faults, the dashboard answers',
  { skip },
  async (t) => {
    const dir = tempDir(t);
    const hz = new StandInHealthz(t);
    await hz.start(200);
    const overrideFile = join(dir, 'override');
    const { api, agent } = await startSyncedAgent(t, [
      '--proxy-healthz-url',
      hz.url,
      '--proxy-healthz-interval',
      '100ms',
      '--override-file',
      overrideFile,
      // The prober's lines must never be answered for the node because a busy machine delayed them.
      '--read-timeout',
      '10s',
    ]);
    // A steady peer, as HAProxy is: it hears every new answer within a fraction of a second, so a
    // drain counts as delivered (no HAProxyNodeAgentDrainNotDelivered once the probes have it).
    let probing = true;
    const prober = (async () => {
      while (probing) {
        await probe(agent.agentPort, { send: 'shop/web\n' }).catch(() => '');
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    t.teardown(async () => {
      probing = false;
      await prober;
    });

    const rules = ruleGroups().map((g) => ({
      ...g,
      // `for:` cut to zero: each alert fires at the first evaluation that sees its fault.
      rules: g.rules.map(({ for: _for, ...r }) => r),
    }));
    writeFileSync(join(dir, 'rules.yaml'), JSON.stringify({ groups: rules }));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      JSON.stringify({
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: [join(dir, 'rules.yaml')],
        scrape_configs: [
          {
            job_name: 'haproxy-node-agent',
            // What the PodMonitor's relabelling adds: the Node's name.
            static_configs: [{ targets: [`127.0.0.1:${agent.httpPort}`], labels: { node: 'n1' } }],
          },
        ],
      }),
    );
    const port = await freePort();
    const stderr: string[] = [];
    const prom = spawnChild(
      t,
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prom.stderr?.setEncoding('utf8');
    prom.stderr?.on('data', (c: string) => stderr.push(c));
    const base = `http://127.0.0.1:${port}`;
    const get = async <T>(path: string): Promise<{ status: string; data: T; error?: string }> => {
      const res = await fetch(base + path);
      return (await res.json()) as { status: string; data: T; error?: string };
    };
    const ready = await until(
      'prometheus ready',
      () =>
        fetch(`${base}/-/ready`).then(
          (r) => r.status,
          () => 0,
        ),
      (s) => s === 200 || prom.exitCode !== null,
      deadline(30_000),
      200,
    );
    t.equal(ready, 200, `prometheus started ${stderr.join('')}`);

    const query = (q: string) =>
      get<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
        `/api/v1/query?query=${encodeURIComponent(q)}`,
      );
    const active = async (): Promise<string[]> =>
      (await get<{ alerts: Alert[] }>('/api/v1/alerts')).data.alerts.map((a) => a.labels.alertname ?? '?').sort();
    const evaluatedAfter = async (when: number): Promise<void> => {
      await until(
        'rules evaluated again',
        async () => (await get<{ groups: Array<{ lastEvaluation: string }> }>('/api/v1/rules')).data.groups,
        (gs) => gs.length > 0 && gs.every((g) => Date.parse(g.lastEvaluation) > when),
        deadline(20_000),
        200,
      );
    };
    const expectActive = async (what: string, expected: string[]): Promise<void> => {
      const want = [...expected].sort();
      const got = await until('alerts', active, (a) => a.join() === want.join(), deadline(30_000), 250).catch(
        (err: Error) => err.message,
      );
      t.same(got, want, what);
    };

    // A watch event, so the watch panels have something to rate.
    api.create('services', {
      metadata: { namespace: 'shop', name: 'late' },
      spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30082 }] },
    });
    // All well: a few scrapes in, then two more evaluations, and nothing is active.
    await until(
      'scraped a few times',
      async () => (await query('count_over_time(up{job="haproxy-node-agent"}[1m])')).data.result[0]?.value[1],
      (v) => Number(v) >= 4,
      deadline(30_000),
      250,
    );
    await evaluatedAfter(Date.now());
    await evaluatedAfter(Date.now());
    t.same(await active(), [], 'nothing fires while all is well');
    t.same(
      (await query('up{job="haproxy-node-agent"}')).data.result.map((r) => r.value[1]),
      ['1'],
      'the agent is scraped',
    );

    // promtool check metrics on the live /metrics: nothing to say about our series.
    const metrics = (await httpGet(agent.httpPort, '/metrics')).body;
    const check = spawnChild(t, 'promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let said = '';
    check.stdout?.on('data', (c: Buffer) => (said += c.toString()));
    check.stderr?.on('data', (c: Buffer) => (said += c.toString()));
    const checked = new Promise<number | null>((resolve) => check.on('exit', resolve));
    check.stdin?.end(metrics);
    await checked;
    t.notMatch(said, /error while linting/, 'promtool parses /metrics');
    t.same(
      said.split('\n').filter((l) => l.startsWith('haproxy_node_agent_')),
      [],
      'promtool check metrics: clean for every haproxy_node_agent_ series',
    );
    t.ok(metrics.split('\n').filter((l) => l.startsWith('haproxy_node_agent_')).length > 40, 'many series checked');

    // The faults, one after another; each adds its alert.
    hz.set(503);
    await expectActive('kube-proxy unhealthy: HAProxyNodeAgentKubeProxyUnhealthy', [
      'HAProxyNodeAgentKubeProxyUnhealthy',
    ]);
    writeFileSync(overrideFile, 'drain\n');
    await expectActive('override file says drain: HAProxyNodeAgentOverrideActive', [
      'HAProxyNodeAgentKubeProxyUnhealthy',
      'HAProxyNodeAgentOverrideActive',
    ]);
    const override = await query('ALERTS{alertname="HAProxyNodeAgentOverrideActive"}');
    t.same(
      override.data.result.map((r) => [r.metric.node, r.metric.state, r.metric.severity]),
      [['n1', 'drain', 'warning']],
      'the override alert names its node and state',
    );
    await api.stop();
    await expectActive('API server away: HAProxyNodeAgentAPIUnreachable', [
      'HAProxyNodeAgentAPIUnreachable',
      'HAProxyNodeAgentKubeProxyUnhealthy',
      'HAProxyNodeAgentOverrideActive',
    ]);

    // Every dashboard query: valid PromQL; the agent's return data (NO_DATA_HERE aside).
    for (const { panel, expr } of dashboardExprs()) {
      const q = grafanaExpand(expr);
      const r = await query(q);
      t.equal(r.status, 'success', `${panel}: valid PromQL: ${q} ${r.error ?? ''}`);
      // Panels of the other jobs (coordinator, sync): valid PromQL only, nothing scrapes them here.
      const ours = metricNames(q).filter((n) => n.startsWith('haproxy_node_agent_') || /^(process|nodejs)_/.test(n));
      if (!q.includes('job="haproxy-node-agent"') || ours.every((n) => NO_DATA_HERE.has(n))) continue;
      // A counter's first event may still be on its way (a watch restart after the API went away).
      const rows = await until(
        'data',
        () => query(q),
        (x) => x.data.result.length > 0,
        deadline(15_000),
        250,
      ).then(
        (x) => x.data.result.length,
        () => 0,
      );
      t.ok(rows > 0, `${panel}: returns data: ${q}`);
    }

    probing = false;
    await prober;
    agent.proc.kill('SIGTERM');
    await agent.exited;
    // A failed scrape marks the agent's series stale: only Down is left.
    await expectActive('agent gone: HAProxyNodeAgentDown, and the alerts on its series end', ['HAProxyNodeAgentDown']);
    t.equal(prom.exitCode, null, 'prometheus ran throughout');
  },
);

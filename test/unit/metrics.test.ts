// The metric registry alone (src/run/metrics.ts), pure: sources in, exposition text out. The daemon
// creates the counters first and gives the gauges their sources last (readFrom); what a scrape then
// shows must be what sources given at creation show. Names and help are readme.test.ts's job.
import t from 'tap';
import { createMetrics, type MetricSources } from '../../src/run/metrics.js';
import { METRIC_PREFIX } from '../../src/platform/metric-prefix.js';

const sources: MetricSources = {
  secondsSinceContact: () => 2.5,
  snapshotSizes: () => ({ nodes: 3, services: 4 }),
  synced: () => true,
  nodeReplyKind: () => 'drain',
  override: () => 'maint',
  stale: () => false,
  slowStartFactor: () => 0.25,
  dedicatedPorts: () => 2,
  guard: () => ({ held: 1, draining: 2, selfHeld: true }),
  api: () => ({ up: { nodes: true, services: false }, errors: new Map([['nodes\u0000403', 2]]) }),
  delivery: () => ({ peers: 3, current: 2, delivered: true, dropped: 7 }),
};

/** Our samples only (no runtime metrics, no build_info: it names the Node.js version). */
async function samples(m: ReturnType<typeof createMetrics>): Promise<string[]> {
  return (await m.registry.metrics())
    .split('\n')
    .filter((l) => l.startsWith(METRIC_PREFIX) && !l.startsWith(`${METRIC_PREFIX}build_info`));
}

t.test('sources given after creation scrape like sources given at creation', async (t) => {
  const late = createMetrics();
  late.readFrom(sources);
  t.same(await samples(late), await samples(createMetrics(sources)));
});

t.test('gauge values: one value, one-hot by label, values by label, absent sources', async (t) => {
  const lines = await samples(createMetrics(sources));
  const has = (l: string) => t.ok(lines.includes(l), l);
  has(`${METRIC_PREFIX}api_last_contact_seconds 2.5`);
  has(`${METRIC_PREFIX}synced 1`);
  has(`${METRIC_PREFIX}node_reply{reply="drain"} 1`);
  has(`${METRIC_PREFIX}node_reply{reply="ready"} 0`);
  has(`${METRIC_PREFIX}override{state="maint"} 1`);
  has(`${METRIC_PREFIX}override{state="drain"} 0`);
  has(`${METRIC_PREFIX}snapshot_objects{resource="services"} 4`);
  has(`${METRIC_PREFIX}guard_nodes{state="draining"} 2`);
  has(`${METRIC_PREFIX}guard_self_held 1`);
  has(`${METRIC_PREFIX}api_up{resource="services"} 0`);
  has(`${METRIC_PREFIX}api_errors_total{resource="nodes",code="403"} 2`);
  has(`${METRIC_PREFIX}peers{state="current"} 2`);
  has(`${METRIC_PREFIX}receipts_dropped_total 7`);
  has(`${METRIC_PREFIX}dataplane_healthy -1`);
  t.notOk(
    lines.some((l) => l.startsWith(`${METRIC_PREFIX}guard_decision{`)),
    'no coordinator decision source: no guard_decision samples',
  );
});

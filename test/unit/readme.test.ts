// The README's tables are the operator's contract: they must match the code, so docs cannot drift.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_FLAGS } from '../../src/run/run-config.js';
import { createMetrics } from '../../src/run/metrics.js';
import { METRIC_PREFIX } from '../../src/platform/metric-prefix.js';
import { SIGNAL_NAMES } from '../../src/core/policy.js';
import { COORDINATE_FLAGS } from '../../src/coordinate/config.js';
import { RENDER_FLAGS } from '../../src/render/cli.js';
import { COORDINATOR_METRIC_PREFIX, coordinatorMetrics } from '../../src/coordinate/metrics.js';

const ROOT = join(import.meta.dirname, '..', '..');
const front = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** The operator's docs as one text: README, docs/*.md and CONTRIBUTING.md (tables are found by header). */
const readme = [
  front,
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => readFileSync(join(ROOT, 'docs', f), 'utf8')),
  readFileSync(join(ROOT, 'CONTRIBUTING.md'), 'utf8'),
].join('\n');

/** Rows of the markdown table whose header starts with `first`, as arrays of trimmed cells. */
function table(first: string, text = readme): string[][] {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`| ${first} |`));
  if (at === -1) throw new Error(`no table starting with "${first}"`);
  const rows: string[][] = [];
  for (let i = at + 2; i < lines.length && lines[i]!.startsWith('|'); i++) {
    rows.push(
      lines[i]!.split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

/** The daemon's registry with every gauge source given: what /metrics exports. */
const daemonMetrics = () =>
  createMetrics({
    secondsSinceContact: () => 1,
    snapshotSizes: () => ({ nodes: 1 }),
    synced: () => true,
    nodeReplyKind: () => 'ready',
    override: () => undefined,
    stale: () => false,
    slowStartFactor: () => 1,
    dedicatedPorts: () => 0,
    guard: () => ({ held: 0, draining: 0, selfHeld: false }),
  });

const unquote = (s: string) => s.replace(/^`|`$/g, '');

t.test('flags table = the flags the daemon parses', async (t) => {
  const rows = table('flag');
  const flags = RUN_FLAGS.filter((f) => f.name !== 'help');
  t.same(
    rows.map((r) => unquote(r[0]!)),
    flags.map((f) => `--${f.name}`),
    'same flags, same order',
  );
  for (const f of flags) {
    const r = rows.find((x) => unquote(x[0]!) === `--${f.name}`);
    if (r === undefined) continue;
    t.equal(unquote(r[1]!), f.env ?? '', `${f.name} env`);
    t.equal(r[2] === '—' ? '' : unquote(r[2]!), f.default, `${f.name} default`);
    t.equal(r[3], f.help, `${f.name} help`);
  }
});

t.test('metrics table = the metrics the daemon registers', async (t) => {
  const m = daemonMetrics();
  const ours = (await m.registry.getMetricsAsJSON()).filter((x) => x.name.startsWith(METRIC_PREFIX));
  const rows = table('metric');
  t.same(
    rows.map((r) => unquote(r[0]!)),
    ours.map((x) => x.name),
    'same metrics, same order',
  );
  for (const x of ours) {
    const r = rows.find((row) => unquote(row[0]!) === x.name);
    t.equal(r?.[1], x.type, `${x.name} type`);
    t.equal(r?.[3], x.help, `${x.name} help`);
  }
});

t.test('every signal and annotation is documented', async (t) => {
  for (const s of SIGNAL_NAMES) t.match(readme, `\`${s}\``, `signal ${s}`);
  for (const a of ['weight', 'state', 'agent-port'])
    t.match(readme, `\`haproxy-node-agent.io/${a}\``, `annotation ${a}`);
});

t.test('coordinate flags table = the flags `coordinate` parses', async (t) => {
  const rows = table('coordinate flag');
  const flags = COORDINATE_FLAGS.filter((f) => f.name !== 'help');
  t.same(
    rows.map((r) => unquote(r[0]!)),
    flags.map((f) => `--${f.name}`),
    'same flags, same order',
  );
  for (const f of flags) {
    const r = rows.find((x) => unquote(x[0]!) === `--${f.name}`);
    t.equal(unquote(r?.[1] ?? ''), f.env ?? '', `${f.name} env`);
    t.equal(r?.[2] === '—' ? '' : unquote(r?.[2] ?? ''), f.default, `${f.name} default`);
    t.equal(r?.[3], f.help, `${f.name} help`);
  }
});

t.test("render's flags table (docs/haproxy.md) = the flags `render` parses", async (t) => {
  // Names and defaults; the help there says more than --help (backticks, links).
  const rows = table('Flag');
  t.same(
    rows.map((r) => unquote(r[0]!)),
    RENDER_FLAGS.map((f) => `--${f.name}`),
    'same flags, same order',
  );
  for (const f of RENDER_FLAGS) {
    const r = rows.find((x) => unquote(x[0]!) === `--${f.name}`);
    t.equal(unquote(r?.[1] ?? ''), f.default, `${f.name} default`);
  }
});

t.test('coordinator metrics table = the metrics the coordinator registers', async (t) => {
  const m = coordinatorMetrics({
    leader: () => true,
    generation: () => 1,
    nodes: () => 1,
    guard: () => ({ engaged: false, readyNodes: 1, budget: 1, explicit: [], draining: [], held: [] }),
  });
  const ours = (await m.registry.getMetricsAsJSON()).filter((x) => x.name.startsWith(COORDINATOR_METRIC_PREFIX));
  const rows = table('coordinator metric');
  t.same(
    rows.map((r) => unquote(r[0]!)),
    ours.map((x) => x.name),
    'same metrics, same order',
  );
  for (const x of ours) {
    const r = rows.find((row) => unquote(row[0]!) === x.name);
    t.equal(r?.[1], x.type, `${x.name} type`);
    t.equal(r?.[3], x.help, `${x.name} help`);
  }
});

t.test('source layout table = the folders of src/', async (t) => {
  const src = join(import.meta.dirname, '..', '..', 'src');
  const listed = table('Folder').map((r) =>
    unquote(r[0]!)
      .replace(/^src\//, '')
      .replace(/\/$/, ''),
  );
  const present = readdirSync(src, { withFileTypes: true })
    .filter((e) => e.isDirectory() || e.name === 'main.ts')
    .map((e) => e.name);
  t.same([...listed].sort(), present.sort(), 'every top-level folder of src/ has a row, and every row exists');
});

t.test("the README's at-a-glance tables name only real flags, variables and metrics", async (t) => {
  const flags = new Map(RUN_FLAGS.map((f) => [`--${f.name}`, f]));
  const rows = table('setting', front);
  t.ok(rows.length >= 4, 'the settings table is there');
  for (const r of rows) {
    const names = [...r[0]!.matchAll(/`(--[a-z-]+)`/g)].map((m) => m[1]!);
    t.ok(names.length > 0, `a flag in ${r[0]}`);
    for (const n of names) t.ok(flags.has(n), `${n} is a run flag`);
    const first = flags.get(names[0]!);
    t.match(
      r[1]!,
      `\`${first !== undefined && 'env' in first ? first.env : '?'}\``,
      `${names[0]} environment variable`,
    );
    if (first?.default) t.match(r[2]!, `\`${first.default}\``, `${names[0]} default`);
  }
  const m = daemonMetrics();
  const exported = new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
  const metrics = table('metric (prefix `haproxy_node_agent_`)', front);
  t.ok(metrics.length >= 3, 'the metrics table is there');
  for (const r of metrics)
    for (const [, name] of r[0]!.matchAll(/`([a-z_]+)(?:\{[^}]*\})?`/g))
      t.ok(exported.has(`${METRIC_PREFIX}${name}`), `${METRIC_PREFIX}${name} is exported`);
});

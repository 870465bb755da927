// What every subcommand owes an operator before it does any work: --version, help that fits a
// terminal, and no Kubernetes client loaded for answers that need no cluster.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI, startSyncedAgent, httpGet } from '../lib/agent-process.js';
import { runChild } from '../lib/spawn.js';

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
  version: string;
};
const COMMANDS = ['run', 'demo', 'render'];

async function cli(args: string[], nodeArgs: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await runChild(process.execPath, [...nodeArgs, CLI, ...args], {
    timeoutMs: 120_000,
    env: { PATH: process.env.PATH ?? '' },
  });
  return { ...r, code: r.code ?? -1 };
}

t.test('--version answers on every subcommand, with or without other flags', { timeout: 300_000 }, async (t) => {
  for (const args of [
    ['--version'],
    ...COMMANDS.map((c) => [c, '--version']),
    ['run', '--node-name', 'x', '--version'],
    ['render', '--snapshot', '/nonexistent', '--version'],
  ]) {
    const r = await cli(args);
    t.equal(r.code, 0, `${args.join(' ')}: exit 0 ${r.stderr}`);
    t.equal(
      r.stdout,
      `haproxy-node-agent ${pkg.version} (node ${process.version})\n`,
      `${args.join(' ')}: the release and runtime`,
    );
  }
});

t.test('every --help line fits in 100 columns', { timeout: 300_000 }, async (t) => {
  for (const args of [['--help'], ...COMMANDS.map((c) => [c, '--help'])]) {
    const r = await cli(args);
    t.equal(r.code, 0, `${args.join(' ')}: exit 0 ${r.stderr}`);
    const long = r.stdout.split('\n').filter((l) => l.length > 100);
    t.same(long, [], `${args.join(' ')}: no line over 100 columns`);
    t.match(r.stdout, /--help/, `${args.join(' ')}: still lists its flags`);
  }
});

t.test('a mistyped flag or command names what was probably meant, on one line, exit 2', async (t) => {
  for (const [args, message] of [
    [['demo', '--agent-prot', '9300'], '--agent-prot: unknown flag; did you mean --agent-port?'],
    [['run', '--nodename', 'n1'], '--nodename: unknown flag; did you mean --node-name?'],
    [
      ['rendr', '--help'],
      'unknown command "rendr"; did you mean render? (commands: run, demo, render, sync, coordinate, wait-drained)',
    ],
  ] as const) {
    const r = await cli([...args]);
    t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
    t.equal(r.stderr, `haproxy-node-agent: ${message}\n`, `${args.join(' ')}: one line with the next step`);
  }
});

t.test('render --print-template and --help do not load the Kubernetes client', { timeout: 300_000 }, async (t) => {
  // A module hook records every module Node resolves, so the test sees what the CLI really loads.
  const dir = mkdtempSync(join(tmpdir(), 'hna-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seen = join(dir, 'seen.txt');
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) { ` +
      `appendFileSync(${JSON.stringify(seen)}, spec + '\\n'); return next(spec, ctx); }\n`,
  );
  writeFileSync(
    join(dir, 'register.mjs'),
    `import { register } from 'node:module';\n` +
      `register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
  );
  for (const args of [
    ['render', '--print-template'],
    ['render', '--help'],
  ]) {
    writeFileSync(seen, '');
    const r = await cli(args, ['--import', pathToFileURL(join(dir, 'register.mjs')).href]);
    t.equal(r.code, 0, `${args.join(' ')}: exit 0`);
    const loaded = readFileSync(seen, 'utf8');
    t.match(loaded, /render\/cli\.js/, 'the hook saw the CLI load');
    t.notMatch(loaded, /@kubernetes\/client-node/, `${args.join(' ')}: client-node never loaded`);
  }
});

t.test(
  '/status and /metrics name the running version; /status says where each weight came from',
  { timeout: 300_000 },
  async (t) => {
    const { api, agent } = await startSyncedAgent(t);
    const hostile = `lots\n${'x'.repeat(200)}`;
    api.create('services', {
      metadata: { namespace: 'blog', name: 'www', annotations: { 'haproxy-node-agent.io/weight': hostile } },
      spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30082 }] },
    });
    type Status = { version?: string; services: Array<{ key: string; why: string }> };
    let status: Status;
    const deadline = Date.now() + 20_000;
    do {
      status = JSON.parse((await httpGet(agent.httpPort, '/status')).body) as Status;
      if (status.services.some((s) => s.key === 'blog/www')) break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() < deadline);
    t.equal(status.version, pkg.version, '/status has the version');
    const why = (key: string): string | undefined => status.services.find((s) => s.key === key)?.why;
    t.equal(why('shop/api'), 'node ready; weight 50 from annotation', 'an annotated weight says so');
    t.equal(why('shop/web'), 'node ready', 'no annotation, no note');
    t.equal(
      why('blog/www'),
      `invalid weight 'lots?${'x'.repeat(27)}…', using 100`.replace(/^/, 'node ready; '),
      'an invalid weight is shown, cut short and without control characters',
    );
    const metrics = (await httpGet(agent.httpPort, '/metrics')).body;
    t.match(
      metrics,
      `haproxy_node_agent_build_info{version="${pkg.version}",node_version="${process.version}"} 1`,
      'build_info metric',
    );
  },
);

// Golden files: the whole rendered text for a fixed snapshot, reviewed by eye once, then frozen.
// UPDATE_GOLDEN=1 rewrites them. Every golden must also pass `haproxy -c` (real HAProxy).
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runRender } from '../../src/render/cli.js';
import { haproxyCheck } from '../../src/haproxy/check.js';
import { isCI } from '../lib/ci.js';
import { tempDir, which } from '../lib/spawn.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'render');
const SNAPSHOT = join(FIX, 'snapshot.yaml');

const CASES: Array<{ golden: string; args: string[] }> = [
  { golden: 'default.cfg', args: [] },
  {
    golden: 'options.cfg',
    args: [
      '--nodes-per-service',
      '3',
      '--slowstart',
      '30s',
      '--agent-port',
      '9400',
      '--agent-inter',
      '500ms',
      '--bind',
      '127.0.0.1:8080',
    ],
  },
  { golden: 'backends-only.cfg', args: ['--template', join(FIX, 'backends-only.tmpl'), '--slowstart', '1m'] },
];

const EXPECTED_WARNINGS = [
  'render: warning: service prod-eu/internal/db: no TCP port with a nodePort ' +
    '(type NodePort or LoadBalancer needed); skipped',
  'render: warning: service prod-us/shop/oops: haproxy-node-agent.io/expose is "yes", ' +
    'expected "true" or "false"; skipped',
];

async function render(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runRender(['--snapshot', SNAPSHOT, ...args], {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    env: {},
  });
  return { code, stdout, stderr };
}

const haproxyMissing = which('haproxy') === undefined;

for (const c of CASES) {
  t.test(c.golden, async (t) => {
    const { code, stdout, stderr } = await render(c.args);
    t.equal(code, 0);
    t.same(stderr.trimEnd().split('\n'), EXPECTED_WARNINGS, 'warnings on stderr');
    const path = join(FIX, c.golden);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, stdout);
    t.equal(stdout, readFileSync(path, 'utf8'), `matches ${c.golden} (UPDATE_GOLDEN=1 to rewrite after review)`);
    const again = await render(c.args);
    t.equal(again.stdout, stdout, 'deterministic');

    if (haproxyMissing && !isCI()) {
      t.pass('haproxy -c', { skip: 'haproxy is not installed here (in CI this fails instead)' });
      return;
    }
    const res = await haproxyCheck(stdout, 'haproxy');
    t.ok(res.ok, `haproxy -c accepts it${res.ok ? '' : `:\n${res.output}`}`);
  });
}

t.test('the snapshot in JSON renders the same as in YAML', async (t) => {
  const { loadYaml } = await import('@kubernetes/client-node');
  const dir = tempDir(t);
  const json = join(dir, 'snapshot.json');
  writeFileSync(json, JSON.stringify(loadYaml(readFileSync(SNAPSHOT, 'utf8'))));
  let out = '';
  const code = await runRender(['--snapshot', json], { stdout: (s) => void (out += s), stderr: () => {}, env: {} });
  t.equal(code, 0);
  t.equal(out, readFileSync(join(FIX, 'default.cfg'), 'utf8'));
});

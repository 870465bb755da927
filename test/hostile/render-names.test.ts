// Issue 17 item 8: `render` reads names and numbers no API server validated (a snapshot file, a
// non-validating source). They must never reach the output unchecked; warnings stay short and
// escaped. The built CLI, real `haproxy -c`.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { render, serversOf } from '../lib/render-check.js';
import { tempDir } from '../lib/spawn.js';
import { runRender } from '../../src/render/cli.js';

// Agent restarts, kubectl and haproxy -c runs add up on a loaded machine: a generous file deadline.
t.setTimeout(600_000);

const P = 'haproxy-node-agent.io';

t.test('a snapshot with hostile names and numbers cannot inject HAProxy lines', async (t) => {
  const dir = tempDir(t);
  const node = (name: string, extra: Record<string, unknown> = {}): object => ({
    metadata: { name, labels: { 'topology.kubernetes.io/zone': 'z1' } },
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
    },
    ...extra,
  });
  const svc = (ns: string, name: string, ann: Record<string, string>, nodePort: unknown = 30080): object => ({
    metadata: {
      namespace: ns,
      name,
      annotations: Object.fromEntries(Object.entries({ expose: 'true', ...ann }).map(([k, v]) => [`${P}/${k}`, v])),
    },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort }] },
  });
  const INJECT = '\nbackend pwned\n  server pwn 6.6.6.6:80';
  const snapshot = {
    clusters: [
      {
        name: 'prod',
        nodes: [
          node('good'),
          node(`bad${INJECT}`),
          { ...node('zoned'), metadata: { name: 'zoned', labels: { 'topology.kubernetes.io/zone': `z${INJECT}` } } },
        ],
        services: [
          svc('shop', 'web', { host: 'shop.example.com' }),
          svc(`shop${INJECT}`, 'ns', { host: 'ns.example.com' }),
          svc('shop', `name${INJECT}`, { host: 'name.example.com' }),
          svc('shop', 'huge', { host: 'huge.example.com' }, 1e300),
          svc('shop', 'frac', { host: 'frac.example.com' }, 30080.5),
          svc('shop', 'loud', { expose: `yes${INJECT}${'x'.repeat(10_000)}`, host: 'loud.example.com' }),
        ],
      },
      { name: `other${INJECT}`, nodes: [node('o1')], services: [svc('shop', 'web2', { backend: 'other' })] },
    ],
  };
  const file = join(dir, 'snapshot.json');
  writeFileSync(file, JSON.stringify(snapshot));
  const r = await render(['--snapshot', file]);
  t.equal(r.code, 0, `render succeeds (and haproxy -c accepts it): ${r.stderr.slice(0, 2000)}`);
  t.notMatch(r.stdout, /pwn|6\.6\.6\.6/, 'no injected backend or server');
  t.notMatch(r.stdout, /e\+300|30080\.5/, 'no non-integer port');
  t.same(serversOf(r.stdout, 'shop.example.com').length, 2, 'shop/web on the two valid nodes (good, zoned)');
  t.notMatch(r.stdout, /huge\.example\.com|frac\.example\.com/, 'Services with a bad nodePort are skipped');
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  t.ok(
    lines.length > 0 && lines.every((l) => l.startsWith('render: warning: ')),
    'every stderr line is a warning of ours: nothing forged',
  );
  t.ok(
    lines.every((l) => l.length < 600),
    `warnings are short (longest ${Math.max(...lines.map((l) => l.length))})`,
  );
  t.match(r.stderr, /nodePort "1e\+300" is not a port number 1\.\.65535; skipped/);
  t.match(
    r.stderr,
    /expose is "yes\\nbackend pwned\\n {2}server pwn 6\.6\.6\.6:80x+"… \(10\d\d\d chars\)/,
    'the loud value is escaped and cut short',
  );
});

t.test('warnings repeat once with a count and stop after 100', async (t) => {
  const dir = tempDir(t);
  const services = Array.from({ length: 300 }, (_, i) => ({
    metadata: { namespace: 'spam', name: `s${i}`, annotations: { [`${P}/expose`]: 'yes' } },
    spec: {},
  }));
  const file = join(dir, 'snapshot.json');
  writeFileSync(file, JSON.stringify({ clusters: [{ name: 'c', nodes: [], services }] }));
  // In process: the cap is the CLI's, no HAProxy needed.
  let stderr = '';
  await runRender(['--snapshot', file], { stdout: () => {}, stderr: (s) => void (stderr += s), env: {} });
  const lines = stderr.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 101, '100 warnings and one summary');
  t.match(lines[100], /200 more warnings not shown \(300 in all\)/);
});

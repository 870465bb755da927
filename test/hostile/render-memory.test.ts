// Issue 22 item 11: one tenant must not be able to stop `render`. Services carrying 250 KB of their
// own annotations are read page by page and trimmed item by item (kube/list.ts listAll, render's
// keepEdgeFields), so the built CLI renders the one exposed Service under a heap far smaller than
// what the tenants wrote. Read in one un-paged GET held as a single string, it ran out of heap.
import t from 'tap';
import { startApi } from '../lib/agent-process.js';
import { CLI } from '../lib/agent-process.js';
import { runChild } from '../lib/spawn.js';

const COUNT = 400;
const BLOB = 250_000;
const P = 'haproxy-node-agent.io';

t.setTimeout(300_000);

t.test('400 Services × 250 KB of tenant annotations: render still renders, within a 64 MB heap', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  api.create('nodes', {
    metadata: { name: 'n1' },
    spec: {},
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
    },
  });
  api.create('services', {
    metadata: { namespace: 'shop', name: 'web', annotations: { [`${P}/expose`]: 'true', [`${P}/host`]: 'shop.test' } },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
  });
  for (let i = 0; i < COUNT; i++) {
    const fill = String.fromCharCode(97 + (i % 26)).repeat(BLOB);
    api.create('services', {
      metadata: {
        namespace: `tenant-${i % 10}`,
        name: `big-${i}`,
        // Some in another annotation, some in one of ours (cut to 4 KB, then rejected by the model).
        annotations: i % 2 === 0 ? { 'example.com/blob': fill } : { [`${P}/expose`]: 'true', [`${P}/host`]: fill },
      },
      spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 31000 + i }] },
    });
  }
  const r = await runChild(
    'env',
    ['NODE_OPTIONS=--max-old-space-size=64', process.execPath, CLI, 'render', '--kubeconfig', kubeconfig],
    { timeoutMs: 240_000 },
  );
  t.equal(r.code, 0, `render exits 0 (stderr: ${r.stderr.slice(0, 300)})`);
  t.match(r.stdout, 'agent-send "shop/web\\n"', 'the exposed Service is rendered');
  t.notMatch(r.stdout, /aaaa|bbbb/, "no tenant's blob reaches the configuration");
  t.ok(r.stderr.length < 64_000, `warnings stay short (${r.stderr.length} bytes)`);
});

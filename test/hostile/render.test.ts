// Issue 17 items 3 and 8: `render` against hostile tenants. The built CLI reads a fake API server
// filled with real kubectl (tenancy) or a snapshot file no API server validated (injection), and
// real `haproxy -c` judges the output.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubectl, startApi } from '../lib/agent-process.js';
import { render, serversOf } from '../lib/render-check.js';
import { tempDir } from '../lib/spawn.js';

// Agent restarts, kubectl and haproxy -c runs add up on a loaded machine: a generous file deadline.
t.setTimeout(600_000);

const P = 'haproxy-node-agent.io';

function serviceYaml(ns: string, name: string, nodePort: number, ann: Record<string, string>): string {
  const lines = Object.entries({ expose: 'true', ...ann }).map(([k, v]) => `    ${P}/${k}: "${v}"`);
  return (
    `apiVersion: v1\nkind: Service\nmetadata:\n  namespace: ${ns}\n  name: ${name}\n` +
    `  annotations:\n${lines.join('\n')}\n` +
    `spec:\n  type: NodePort\n  ports: [{port: 80, nodePort: ${nodePort}}]\n`
  );
}

/** creationTimestamp has one-second precision: let the next Service be strictly younger. */
async function nextSecond(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1100 - (Date.now() % 1000)));
}

t.test('another namespace cannot join, redirect or rename a host it does not own', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  const dir = tempDir(t);
  api.create('nodes', {
    metadata: { name: 'n1' },
    spec: {},
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
    },
  });
  const create = async (ns: string, name: string, nodePort: number, ann: Record<string, string>): Promise<void> => {
    const f = join(dir, `${ns}-${name}.yaml`);
    writeFileSync(f, serviceYaml(ns, name, nodePort, ann));
    await kubectl(kubeconfig, 'create', '--validate=false', '-f', f);
  };
  await create('shop', 'web', 30080, { host: 'shop.example.com' });
  await nextSecond();
  await create('shop', 'canary', 30081, { host: 'shop.example.com', weight: '10' });
  // A writer records shop's claim while it is uncontested (sync does on every model it computes).
  const recorded = await render(['--kubeconfig', kubeconfig, '--record-claims']);
  t.equal(recorded.code, 0, recorded.stderr);
  t.match(recorded.stderr, /claims record ConfigMap [^ ]+: created \(1 claims\)/);
  await create('evil', 'join', 30666, { host: 'shop.example.com' });
  await create('evil', 'redirect', 30667, { host: 'shop.example.com', backend: 'a' });
  await create('evil', 'admin', 30668, { host: 'shop.example.com', path: '/admin' });
  await create('evil', 'rename', 30669, { backend: 'shop.example.com' });

  const r = await render(['--kubeconfig', kubeconfig]);
  t.equal(r.code, 0, `render succeeds (and haproxy -c accepts it): ${r.stderr}`);
  const shop = serversOf(r.stdout, 'shop.example.com');
  t.equal(shop.filter((l) => l.includes('agent-send "shop/web\\n"')).length, 1, 'shop/web serves its host');
  t.equal(
    shop.filter((l) => l.includes('agent-send "shop/canary\\n"')).length,
    1,
    'a canary in the same namespace joins as before',
  );
  t.notMatch(r.stdout, /evil/, 'no evil server anywhere');
  t.notMatch(r.stdout, /use_backend a /, "shop.example.com is not routed to evil's backend");
  t.notMatch(r.stdout, /shop\.example\.com_2/, "shop's backend keeps its name");
  t.match(r.stdout, /use_backend shop\.example\.com if /, 'shop.example.com still routes to shop');
  for (const name of ['join', 'redirect', 'admin', 'rename']) {
    t.match(
      r.stderr,
      new RegExp(
        `warning: service [^ ]*/evil/${name}: .*belongs to [^ ]*/shop \\(service [^ ]*/shop/web[;),].*; skipped`,
      ),
      `evil/${name} skipped, naming both Services`,
    );
  }

  // The owner opts a partner namespace in: it joins; evil stays out.
  await kubectl(kubeconfig, 'annotate', 'svc', '-n', 'shop', 'web', `${P}/share-with=partner,bogus_ns`);
  await create('partner', 'p', 30090, { host: 'shop.example.com' });
  const shared = await render(['--kubeconfig', kubeconfig]);
  t.equal(shared.code, 0, shared.stderr);
  t.ok(
    serversOf(shared.stdout, 'shop.example.com').some((l) => l.includes('agent-send "partner/p\\n"')),
    'share-with lets partner/p join',
  );
  t.notMatch(shared.stdout, /evil/, 'evil still out');
  t.match(
    shared.stderr,
    /share-with entry "bogus_ns" is not a namespace name \(NAMESPACE or CLUSTER\/NAMESPACE\); ignored/,
    'a bad share-with entry is a warning',
  );
});

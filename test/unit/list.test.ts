// listAll, the paged reader render and sync can use instead of one un-paged GET: every page read,
// each item trimmed as it arrives (only what trim keeps is held), and a list that never ends capped.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeApiServer } from '../../src/testkit/fakeapi/server.js';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { ApiTransport } from '../../src/kube/transport.js';
import { ListTooLongError, listAll } from '../../src/kube/list.js';

t.test('listAll pages through a collection and keeps only what trim returns', async (t) => {
  const api = new FakeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  const dir = mkdtempSync(join(tmpdir(), 'hna-list-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kcPath = join(dir, 'kubeconfig');
  api.writeKubeconfig(kcPath);
  const transport = new ApiTransport(loadKubeConfig(kcPath, {}), 10_000, () => undefined);
  const big = 'x'.repeat(64 * 1024);
  for (let i = 0; i < 30; i++)
    api.create('services', {
      metadata: { namespace: 'shop', name: `s${i}`, annotations: { blob: big }, labels: { keep: String(i % 2) } },
      spec: { type: 'ClusterIP' },
    });
  const name = (raw: unknown): string | undefined =>
    (raw as { metadata?: { name?: string; labels?: Record<string, string> } }).metadata?.labels?.keep === '1'
      ? (raw as { metadata: { name: string } }).metadata.name
      : undefined;
  const from = api.requestLog.length;
  const { items, resourceVersion } = await listAll(transport, '/api/v1/services', name, { pageSize: 7 });
  t.equal(items.length, 15, 'every page read, rejected items dropped');
  t.ok(
    items.every((n) => Number(n.slice(1)) % 2 === 1),
    'trimmed to what trim returns',
  );
  t.match(resourceVersion, /^\d+$/, 'the list resourceVersion');
  t.equal(api.requestLog.length - from, 5, '30 items in pages of 7: 5 requests');

  const selected = await listAll(transport, '/api/v1/services', name, { labelSelector: 'keep=1' });
  t.equal(selected.items.length, 15, 'a label selector reaches the server');

  await t.rejects(
    listAll(transport, '/api/v1/services', name, { pageSize: 5, limits: { maxItems: 1000, maxPages: 3 } }),
    ListTooLongError,
    'over the page cap: a ListTooLongError, not a list that never ends',
  );
});

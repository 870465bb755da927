// listAll, the paged reader render and sync can use instead of one un-paged GET: every page read,
// each item trimmed as it arrives (only what trim keeps is held), and a list that never ends capped.
import t, { type Test } from 'tap';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { ApiTransport } from '../../src/kube/transport.js';
import { ListTooLongError, listAll } from '../../src/kube/list.js';

/** A loopback collection of `total` items served in pages (`endless`: a continue token forever). */
async function collection(
  t: Test,
  total: number,
  endless = false,
): Promise<{ requests: URL[]; transport: ApiTransport }> {
  const requests: URL[] = [];
  const blob = 'x'.repeat(64 * 1024);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(url);
    const limit = Number(url.searchParams.get('limit'));
    const from = Number(url.searchParams.get('continue') || '0');
    const to = Math.min(total, from + limit);
    const items = [];
    for (let i = from; i < to; i++) items.push({ metadata: { name: `s${i}`, annotations: { blob } } });
    const cont = endless ? String(from + 1) : to < total ? String(to) : undefined;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'List', metadata: { resourceVersion: '42', continue: cont }, items }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const dir = mkdtempSync(join(tmpdir(), 'hna-list-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kc = join(dir, 'kubeconfig');
  const port = (server.address() as { port: number }).port;
  writeFileSync(
    kc,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 'x' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    }),
  );
  return { requests, transport: new ApiTransport(loadKubeConfig(kc, {}), 10_000, () => undefined) };
}

const odd = (raw: unknown): string | undefined => {
  const name = (raw as { metadata: { name: string } }).metadata.name;
  return Number(name.slice(1)) % 2 === 1 ? name : undefined;
};

t.test('listAll pages through a collection and keeps only what trim returns', async (t) => {
  const { requests, transport } = await collection(t, 30);
  const { items, resourceVersion } = await listAll(transport, '/api/v1/services', odd, {
    pageSize: 7,
    labelSelector: 'a=b',
  });
  t.equal(items.length, 15, 'every page read, rejected items dropped');
  t.ok(
    items.every((n) => Number(n.slice(1)) % 2 === 1),
    'trimmed to what trim returns',
  );
  t.equal(resourceVersion, '42', 'the list resourceVersion');
  t.equal(requests.length, 5, '30 items in pages of 7: 5 requests');
  t.ok(
    requests.every((u) => u.searchParams.get('labelSelector') === 'a=b'),
    'the selector on every page',
  );
});

t.test('a list whose continue never ends is abandoned at the cap', async (t) => {
  const { requests, transport } = await collection(t, 1_000_000, true);
  await t.rejects(
    listAll(transport, '/api/v1/services', odd, { pageSize: 5, limits: { maxItems: 1000, maxPages: 3 } }),
    ListTooLongError,
    'over the page cap: a ListTooLongError',
  );
  t.equal(requests.length, 3, 'no page past the cap');
  await t.rejects(
    listAll(transport, '/api/v1/services', odd, { pageSize: 50, limits: { maxItems: 120, maxPages: 100 } }),
    ListTooLongError,
    'over the item cap: a ListTooLongError',
  );
});

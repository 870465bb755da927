// How long an informer waits before retrying: a jittered exponential step per kind of failure. A list
// that succeeds ends a run of failed lists (the next outage starts from the shortest wait, not from
// where the last one left off); a fresh watch that fails at once keeps backing off across the lists
// that succeed in between (the spin guard). The informer runs in-process against a loopback API.
import t, { type Test } from 'tap';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backoff } from '../../src/kube/backoff.js';
import { DEFAULT_TIMING, ResourceInformer, type RestartReason } from '../../src/kube/informer.js';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { ApiTransport } from '../../src/kube/transport.js';
import { deadline } from '../lib/deadline.js';
import { until } from '../lib/until.js';

t.test('Backoff: half a step plus up to another half, doubling to the cap; reset starts over', async (t) => {
  let r = 0;
  const b = new Backoff(100, 1000, () => r);
  t.same([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [50, 100, 200, 400, 500, 500], 'lowest jitter');
  b.reset();
  r = 0.999_999;
  t.same([b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800, 1000], 'highest jitter, capped');
  b.reset();
  t.equal(b.next(), 100, 'after reset: the shortest step again');
});

/**
 * A loopback API server with one Node, just enough for an informer (the fake API in testkit would
 * pull its whole surface into this tier's coverage): the next `failLists` lists get `failStatus`; a
 * watch from a resourceVersion below `oldest` (or any watch, with `goneWatches`) gets a 410 ERROR
 * event and ends; the others follow `watchPlan` one by one ('end': ended at once, without an event;
 * 'event': one MODIFIED event, then ended), and once it runs out stay open until `dropWatches()`.
 */
class LoopbackApi {
  failLists = 0;
  failStatus = 503;
  goneWatches = false;
  watchPlan: Array<'end' | 'event'> = [];
  private rv = 1;
  private oldest = 1;
  private readonly open = new Set<http.ServerResponse>();
  private readonly server = http.createServer((req, res) => this.handle(req, res));

  async start(t: Test, dir: string): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    t.teardown(
      () =>
        new Promise<void>((r) => {
          this.server.closeAllConnections();
          this.server.close(() => r());
        }),
    );
    const kubeconfig = join(dir, 'kubeconfig');
    const port = (this.server.address() as { port: number }).port;
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'x' } }],
        contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'c',
      }),
    );
    return kubeconfig;
  }

  /** Every resourceVersion handed out so far is gone: watches from them get 410. */
  compact(): void {
    this.oldest = ++this.rv;
  }

  dropWatches(): void {
    for (const res of this.open) res.end();
    this.open.clear();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const json = { 'content-type': 'application/json' };
    if (url.searchParams.get('watch') !== 'true') {
      if (this.failLists > 0) {
        this.failLists--;
        res.writeHead(this.failStatus, json);
        return void res.end(JSON.stringify({ kind: 'Status', code: this.failStatus, message: 'injected' }));
      }
      const node = { metadata: { name: 'n1', resourceVersion: '1' } };
      res.writeHead(200, json);
      return void res.end(
        JSON.stringify({ kind: 'NodeList', metadata: { resourceVersion: String(this.rv) }, items: [node] }),
      );
    }
    res.writeHead(200, json);
    if (this.goneWatches || Number(url.searchParams.get('resourceVersion')) < this.oldest) {
      const status = { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' };
      return void res.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
    }
    const plan = this.watchPlan.shift();
    if (plan === 'end') return void res.end();
    if (plan === 'event') {
      const node = { metadata: { name: 'n1', resourceVersion: String(++this.rv) } };
      return void res.end(`${JSON.stringify({ type: 'MODIFIED', object: node })}\n`);
    }
    res.flushHeaders();
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
  }
}

/** The restarts the informer reported, in order, and how many lists it applied. */
interface Seen {
  restarts: Array<{ reason: RestartReason; delayMs: number }>;
  listed: number;
  /** Objects added or changed (by a list or a watch event). */
  upserts: number;
}

/** A loopback API and a nodes informer against it (not started), backing off from `minBackoffMs` (no cap here). */
async function informer(t: Test, minBackoffMs: number): Promise<{ api: LoopbackApi; seen: Seen; start: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'hna-backoff-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const api = new LoopbackApi();
  const kubeconfig = await api.start(t, dir);
  const transport = new ApiTransport(loadKubeConfig(kubeconfig, {}), 10_000, () => undefined);
  const seen: Seen = { restarts: [], listed: 0, upserts: 0 };
  const inf = new ResourceInformer<string>(
    transport,
    {
      resource: 'nodes',
      path: '/api/v1/nodes',
      trim: (raw) => {
        const md = (raw as { metadata: { name: string; resourceVersion?: string } }).metadata;
        return { metadata: md, view: md.name, problems: [] };
      },
      onUpsert: () => seen.upserts++,
      onDelete: () => undefined,
      onListed: () => seen.listed++,
      onRestart: (reason, _err, delayMs) => seen.restarts.push({ reason, delayMs }),
    },
    { ...DEFAULT_TIMING, minBackoffMs, maxBackoffMs: 3_600_000, watchTimeoutMs: 60_000 },
  );
  t.teardown(() => inf.stop());
  return { api, seen, start: () => inf.start() };
}

const delays = (seen: Seen, reason: RestartReason): number[] =>
  seen.restarts.filter((r) => r.reason === reason).map((r) => r.delayMs);

t.test('a list that succeeds ends a run of failed lists: the next burst starts from the shortest wait', async (t) => {
  const MIN = 20;
  const { api, seen, start } = await informer(t, MIN);
  api.failStatus = 429;
  api.failLists = 5;
  start();
  await until(
    'listed after the first burst',
    async () => seen.listed,
    (n) => n === 1,
    deadline(10_000),
    5,
  );
  const first = delays(seen, 'http_429');
  t.equal(first.length, 5, 'five failed lists, five waits');
  // Step k (from 0) waits between MIN·2^k/2 and MIN·2^k.
  t.ok(
    first.every((d, k) => d >= (MIN * 2 ** k) / 2 && d <= MIN * 2 ** k),
    `the waits double within one burst: ${first.join(', ')} ms`,
  );

  // A second short burst: the informer relists (its resourceVersion is compacted away) into it.
  seen.restarts.length = 0;
  api.failLists = 5;
  api.compact();
  api.dropWatches();
  const failed = async () => delays(seen, 'http_429').length;
  await until('the first failed list of the second burst', failed, (n) => n >= 1, deadline(10_000), 5);
  const [again] = delays(seen, 'http_429');
  t.ok(
    again !== undefined && again <= MIN,
    `the first failed list of the second burst waits the shortest step (${again} ms), not where the first burst ended`,
  );
  await until(
    'listed after the second burst',
    async () => seen.listed,
    (n) => n === 2,
    deadline(10_000),
    5,
  );
  const second = delays(seen, 'http_429');
  t.equal(second.length, 5, 'five failed lists again');
  t.ok(
    second.every((d, k) => d >= (MIN * 2 ** k) / 2 && d <= MIN * 2 ** k),
    `the second burst backs off from the shortest wait again, not from where the first ended: ${second.join(', ')} ms`,
  );
});

t.test('a fresh watch that fails at once keeps backing off, across the lists that succeed between', async (t) => {
  const MIN = 20;
  const { api, seen, start } = await informer(t, MIN);
  api.goneWatches = true;
  start();
  await until(
    'six lists, each watched into a 410',
    async () => delays(seen, 'gone_after_list').length,
    (n) => n >= 6,
    deadline(10_000),
    5,
  );
  const spins = delays(seen, 'gone_after_list').slice(0, 6);
  t.ok(seen.listed >= 6, `every list between succeeded (${seen.listed})`);
  t.ok(
    spins.every((d, k) => d >= (MIN * 2 ** k) / 2 && d <= MIN * 2 ** k),
    `the waits keep doubling: ${spins.join(', ')} ms`,
  );
});

t.test('a watch event ends a run of watches that ended at once: the next one waits the shortest step', async (t) => {
  const MIN = 20;
  const { api, seen, start } = await informer(t, MIN);
  api.watchPlan = ['end', 'end', 'end', 'end', 'event', 'end'];
  start();
  const early = async () => delays(seen, 'ended_early').length;
  await until('five watches ended at once', early, (n) => n >= 5, deadline(10_000), 5);
  const waits = delays(seen, 'ended_early');
  t.ok(
    waits.slice(0, 4).every((d, k) => d >= (MIN * 2 ** k) / 2 && d <= MIN * 2 ** k),
    `the waits double while watches end at once: ${waits.slice(0, 4).join(', ')} ms`,
  );
  t.equal(seen.upserts, 2, 'the listed Node, then the event that changed it');
  t.ok(waits[4] !== undefined && waits[4] <= MIN, `after the event, the shortest step again: ${waits[4]} ms`);
  t.equal(seen.listed, 1, 'no relist: each watch resumed from where the last one ended');
});

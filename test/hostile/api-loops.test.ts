// A misbehaving API server (or a proxy in front of it) that loops: watches that end the moment they
// open, a list whose `continue` never ends. The built daemon must neither spin nor run out of
// memory: it backs off, counts and logs, keeps answering, and catches up once the server behaves.
import t, { type Test } from 'tap';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpGet, metricValue, seedCluster, startAgent, startApi, type AgentProcess } from '../lib/agent-process.js';
import { probe, probeUntil } from '../lib/probe.js';
import { tempDir } from '../lib/spawn.js';
import { deadline as stretch } from '../lib/deadline.js';
import { renderKubeconfig } from '../../src/testkit/fakeapi/kubeconfig.js';
import type { FakeApiServer } from '../../src/testkit/fakeapi/server.js';

const M = 'haproxy_node_agent_';
const WEB = 'shop/web\n';

interface Loops {
  /** Watches answered 200 and ended at once, without an event. */
  endWatches: boolean;
  /** Service list pages get a fresh `continue` token forever. */
  endlessContinue: boolean;
  watches: Map<string, number>;
  servicePages: number;
}

/** A plain-HTTP front for the fake API that misbehaves on demand. */
async function front(t: Test, api: FakeApiServer): Promise<{ loops: Loops; kubeconfig: string }> {
  const upstream = new URL(api.url);
  const loops: Loops = { endWatches: false, endlessContinue: false, watches: new Map(), servicePages: 0 };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const watch = url.searchParams.get('watch') === 'true';
    if (watch) loops.watches.set(url.pathname, (loops.watches.get(url.pathname) ?? 0) + 1);
    if (watch && loops.endWatches) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end();
    }
    const endless = !watch && loops.endlessContinue && url.pathname === '/api/v1/services';
    // Every endless page is the first page again, under a token the fake API never issued.
    if (endless) url.searchParams.delete('continue');
    const path = endless ? `${url.pathname}?${url.searchParams.toString()}` : req.url;
    const up = http.request(
      { host: upstream.hostname, port: upstream.port, path, method: req.method, headers: req.headers },
      (ur) => {
        if (!endless) {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          return void ur.pipe(res);
        }
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.on('end', () => {
          const page = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { metadata: Record<string, unknown> };
          page.metadata.continue = `loop-${++loops.servicePages}`;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(page));
        });
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const kubeconfig = join(tempDir(t), 'kubeconfig');
  const port = (server.address() as { port: number }).port;
  writeFileSync(kubeconfig, renderKubeconfig(`http://127.0.0.1:${port}`));
  return { loops, kubeconfig };
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  // Stretched on a busy machine, as every wait in the suite (test/lib/deadline.ts).
  const deadline = Date.now() + stretch(ms);
  let last = await read();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms}ms; last ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}

const metric = async (agent: AgentProcess, sample: string): Promise<number> =>
  metricValue((await httpGet(agent.httpPort, '/metrics')).body, `${M}${sample}`) ?? 0;

t.test('watches that end the moment they open: backed off, counted, caught up after', async (t) => {
  const { api } = await startApi(t);
  seedCluster(api);
  const { loops, kubeconfig } = await front(t, api);
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig]);
  t.equal(await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n', 20_000), 'ready up 100%\n');

  loops.endWatches = true;
  api.dropWatches();
  const from = loops.watches.get('/api/v1/nodes') ?? 0;
  const startedAt = Date.now();
  // Five restarts in a row back off 125 ms .. 4 s: seconds, where no backoff makes thousands of watches.
  const restarts = await until(
    'restarts counted as ended_early',
    () => metric(agent, 'watch_restarts_total{resource="nodes",reason="ended_early"}'),
    (n) => n >= 5,
  );
  const watches = (loops.watches.get('/api/v1/nodes') ?? 0) - from;
  t.comment(`${watches} node watches in ${Date.now() - startedAt} ms while every watch ended at once`);
  t.ok(watches <= restarts + 2, `one watch per counted restart: ${watches} watches, ${restarts} restarts`);
  t.equal(await probe(agent.agentPort, { send: WEB }), 'ready up 100%\n', 'still answering the last truth');

  loops.endWatches = false;
  api.patch('nodes', undefined, 'n1', { spec: { unschedulable: true } });
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'drain\n', 60_000),
    'drain\n',
    'a change after the fault arrives (the backoff is capped)',
  );
});

t.test('a list whose continue never ends: capped, counted, logged, retried; synced once it ends', async (t) => {
  const { api } = await startApi(t);
  seedCluster(api);
  const { loops, kubeconfig } = await front(t, api);
  loops.endlessContinue = true;
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig]);
  const restarts = await until(
    'the endless list counted',
    () => metric(agent, 'watch_restarts_total{resource="services",reason="list_too_long"}'),
    (n) => n >= 1,
    120_000,
  );
  t.ok(restarts >= 1, `counted as list_too_long (${loops.servicePages} pages served)`);
  const line = agent.logs.find((l) => l.level === 'error' && /services/.test(String(l.msg)));
  t.match(String(line?.msg), /list of \/api\/v1\/services .*pages/, `logged: ${String(line?.msg)}`);
  t.equal((await httpGet(agent.httpPort, '/healthz')).status, 200, '/healthz answers');
  const ready = await httpGet(agent.httpPort, '/readyz');
  t.equal(ready.status, 503, 'not ready: services never listed');
  t.match(ready.body, /never synced: the API server answers with an error for services/, '/readyz says why');
  t.equal(agent.proc.exitCode, null, 'still running');

  loops.endlessContinue = false;
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === 'ready up 100%\n', 120_000),
    'ready up 100%\n',
    'synced once the list ends (the backoff is capped)',
  );
});

// /livez and /readyz?verbose on the ops HTTP server, as the kubelet and an operator's curl read them.
import t, { type Test } from 'tap';
import { Registry } from 'prom-client';
import { HttpServer, type HttpSources } from '../../src/platform/http/ops-server.js';

async function serve(t: Test, src: Omit<HttpSources, 'registry' | 'status'>): Promise<number> {
  const server = new HttpServer('127.0.0.1', 0, {
    registry: new Registry(),
    status: { version: () => 0, document: () => ({ services: [] }), live: () => ({}) },
    ...src,
  });
  const port = await server.listen();
  t.teardown(() => server.close());
  return port;
}

const get = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
};

t.test('/livez answers 200 while the program is not ready at all (it never looks at the API)', async (t) => {
  const port = await serve(t, { ready: () => false, notReadyReason: () => 'never synced: unreachable' });
  t.same(await get(port, '/livez'), { status: 200, body: 'ok\n' });
  t.same(await get(port, '/livez?verbose'), { status: 200, body: '[+]ping ok\nlivez check passed\n' });
  t.equal((await get(port, '/readyz')).status, 503, 'while /readyz says 503');
});

t.test('/readyz?verbose lists each check; the status code and the plain answer are unchanged', async (t) => {
  let synced = false;
  let reason: string | null = 'never synced: the API server fails TLS verification for nodes';
  const port = await serve(t, { ready: () => synced, notReadyReason: () => reason });
  t.same(await get(port, '/readyz'), { status: 503, body: `not ready: ${reason}\n` });
  t.same(await get(port, '/readyz?verbose'), {
    status: 503,
    body:
      `[+]ping ok\n[-]synced failed: ${reason}\n` +
      '[-]api-access failed: not checked before the first full list\nreadyz check failed\n',
  });
  synced = true;
  reason = 'answers cannot be kept fresh: nodes is refused (403) for 61s';
  t.same(await get(port, '/readyz'), { status: 503, body: `not ready: ${reason}\n` });
  t.same(await get(port, '/readyz?verbose=1'), {
    status: 503,
    body: `[+]ping ok\n[+]synced ok\n[-]api-access failed: ${reason}\nreadyz check failed\n`,
  });
  reason = null;
  t.same(await get(port, '/readyz'), { status: 200, body: 'ready\n' });
  t.same(await get(port, '/readyz?verbose'), {
    status: 200,
    body: '[+]ping ok\n[+]synced ok\n[+]api-access ok\nreadyz check passed\n',
  });
});

t.test('a program without notReadyReason (the coordinator): ping and synced only', async (t) => {
  let listed = false;
  const port = await serve(t, { ready: () => listed });
  t.same(await get(port, '/readyz'), {
    status: 503,
    body: 'not ready: waiting for the first full list of the Node and Services\n',
  });
  listed = true;
  t.same(await get(port, '/readyz?verbose'), { status: 200, body: '[+]ping ok\n[+]synced ok\nreadyz check passed\n' });
  t.match((await get(port, '/nope')).body, '/livez', 'the 404 names /livez');
});

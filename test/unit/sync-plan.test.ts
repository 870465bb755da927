// sync's hot path: desired vs running → runtime adds, re-addresses and removes, or the reasons a
// reload is needed instead (src/sync/plan.ts).
import t from 'tap';
import { isEmpty, planChanges, type PlanInputs, type Running } from '../../src/sync/plan.js';
import type { Desired, DesiredServer } from '../../src/sync/desired.js';

function server(backend: string, name: string, address = '10.0.0.1', port = 30080): DesiredServer {
  return { backend, name, address, port, key: 'ns/svc', cluster: 'c', node: name };
}

function desired(servers: DesiredServer[], structure = 'S', backends: string[] = []): Desired {
  const m = new Map<string, Map<string, DesiredServer>>();
  for (const b of backends) m.set(b, new Map());
  for (const s of servers) {
    if (!m.has(s.backend)) m.set(s.backend, new Map());
    m.get(s.backend)!.set(s.name, s);
  }
  return { text: '', structure, servers: m, warnings: [] };
}

function running(rows: Array<[string, string, string, number]>, backends: string[] = []): Running {
  const m = new Map<string, Map<string, { address: string; port: number }>>();
  for (const b of backends) m.set(b, new Map());
  for (const [b, name, address, port] of rows) {
    if (!m.has(b)) m.set(b, new Map());
    m.get(b)!.set(name, { address, port });
  }
  return m;
}

const inputs = (over: Partial<PlanInputs> = {}): PlanInputs => ({
  loadedStructure: 'S',
  runtimeServers: true,
  managed: new Set(),
  ...over,
});

t.test('in sync: an empty plan', async (t) => {
  const p = planChanges(desired([server('a', 's1')]), running([['a', 's1', '10.0.0.1', 30080]]), inputs());
  t.same(p, { reload: [], add: [], readdress: [], remove: [] });
  t.ok(isEmpty(p));
});

t.test('a backend the worker does not run: reload, named (three at most)', async (t) => {
  let p = planChanges(
    desired([server('a', 's1'), server('b', 's1')]),
    running([['a', 's1', '10.0.0.1', 30080]]),
    inputs(),
  );
  t.same(p.reload, ['backend not running: b']);
  t.same(p.add, [], 'servers of a missing backend are not added one by one');
  t.notOk(isEmpty(p));
  p = planChanges(desired(['e', 'd', 'c', 'b', 'a'].map((b) => server(b, 's'))), running([]), inputs());
  t.same(p.reload, ['backends not running: a, b, c and 2 more']);
  p = planChanges(desired([], 'S', ['empty']), running([]), inputs());
  t.same(p.reload, ['backend not running: empty'], 'a wanted backend without servers counts too');
});

t.test('a managed backend no longer wanted: reload; one sync never wrote: left alone', async (t) => {
  const run = running([
    ['a', 's1', '10.0.0.1', 30080],
    ['old', 's1', '10.0.0.1', 30080],
    ['theirs', 'x', '10.9.9.9', 80],
  ]);
  const p = planChanges(desired([server('a', 's1')]), run, inputs({ managed: new Set(['a', 'old', 'gone-already']) }));
  t.same(p.reload, ['backends no longer wanted: old']);
  t.same(p.remove, [], "the operator's own backend is not touched");
  const mine = planChanges(desired([server('a', 's1')]), run, inputs({ managed: new Set(['a']) }));
  t.ok(isEmpty(mine), 'not managed: not ours to remove');
});

t.test('structure changed: reload, unless a reload is already needed; unknown structure: servers decide', async (t) => {
  const run = running([['a', 's1', '10.0.0.1', 30080]]);
  let p = planChanges(desired([server('a', 's1')], 'S2'), run, inputs());
  t.same(p.reload, ['frontend, routes or backend settings changed']);
  p = planChanges(desired([server('a', 's1'), server('b', 's1')], 'S2'), run, inputs());
  t.same(p.reload, ['backend not running: b'], 'one reason is enough');
  p = planChanges(desired([server('a', 's1')], 'S2'), run, inputs({ loadedStructure: undefined }));
  t.ok(isEmpty(p), 'the loaded structure unknown: nothing to compare');
});

t.test('servers: add, readdress (address or port), remove', async (t) => {
  const run = running([
    ['a', 'same', '10.0.0.1', 30080],
    ['a', 'moved', '10.0.0.2', 30080],
    ['a', 'port', '10.0.0.3', 30080],
    ['a', 'gone', '10.0.0.4', 30080],
    ['b', 'gone2', '10.0.0.5', 30081],
  ]);
  const want = desired([
    server('a', 'same', '10.0.0.1'),
    server('a', 'moved', '10.0.0.22'),
    server('a', 'port', '10.0.0.3', 31000),
    server('a', 'new', '10.0.0.6'),
    server('b', 'new2', 'fd00::1', 30081),
  ]);
  const p = planChanges(want, run, inputs());
  t.same(p.reload, []);
  t.same(
    p.add.map((s) => `${s.backend}/${s.name}`),
    ['a/new', 'b/new2'],
  );
  t.same(
    p.readdress.map((s) => `${s.backend}/${s.name} ${s.address}:${s.port}`),
    ['a/moved 10.0.0.22:30080', 'a/port 10.0.0.3:31000'],
  );
  t.same(p.remove, [
    { backend: 'a', name: 'gone' },
    { backend: 'b', name: 'gone2' },
  ]);
});

t.test('a --template: every server change is applied by reload, and counted', async (t) => {
  const run = running([
    ['a', 'old', '10.0.0.1', 30080],
    ['a', 'moved', '10.0.0.2', 30080],
  ]);
  const want = desired([server('a', 'new'), server('a', 'moved', '10.0.0.9')]);
  const p = planChanges(want, run, inputs({ runtimeServers: false }));
  t.same(p.reload, ['3 server change(s) with a --template (applied by reload only)']);
  t.equal(p.add.length + p.readdress.length + p.remove.length, 3, 'the changes are still listed');
  t.ok(
    isEmpty(
      planChanges(
        want,
        running([
          ['a', 'new', '10.0.0.1', 30080],
          ['a', 'moved', '10.0.0.9', 30080],
        ]),
        inputs({ runtimeServers: false }),
      ),
    ),
    'no change: no reload',
  );
});

t.test('servers addressed by host name: the resolved address is never a readdress; a new port reloads', async (t) => {
  // HAProxy 2.6.12, `server s1 localhost:30080`: show servers state has srv_addr 127.0.0.1 (and
  // srv_fqdn localhost). `set server addr` takes IPs only, so comparing addresses would retry a
  // refused command on every cycle.
  const run = running([
    ['a', 'h1', '127.0.0.1', 30080],
    ['a', 'h2', '127.0.0.1', 30080],
  ]);
  let p = planChanges(desired([server('a', 'h1', 'localhost'), server('a', 'h2', 'node-2.example')]), run, inputs());
  t.ok(isEmpty(p), 'same port: in sync');
  p = planChanges(
    desired([server('a', 'h1', 'localhost', 31000), server('a', 'h2', 'node-2.example', 31000)]),
    run,
    inputs(),
  );
  t.same(p.reload, ['2 server(s) addressed by host name changed port']);
  t.same(p.readdress, []);
  p = planChanges(
    desired([server('a', 'h1', 'localhost'), server('a', 'h2', 'localhost'), server('a', 'h3', 'node-3.example')]),
    run,
    inputs(),
  );
  t.same(
    p.add.map((s) => s.address),
    ['node-3.example'],
    'a new one is an add (sync reloads for it: runtimeAddable)',
  );
});

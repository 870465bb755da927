// API health as /readyz and /status read it, on a clock we move: the 60 s bound for credential and
// RBAC failures, routine cuts and 410s not counted as outages, one transition per change.
import t from 'tap';
import { ApiHealth, CONFIG_FAILURE_READY_BOUND_MS, type Transition } from '../../src/kube/api-health.js';
import { ApiError } from '../../src/kube/transport.js';

function make(): { h: ApiHealth; seen: Transition[]; advance(ms: number): void } {
  let now = 1_000_000;
  const seen: Transition[] = [];
  const h = new ApiHealth(
    ['nodes', 'services'],
    (tr) => seen.push(tr),
    () => now,
  );
  return { h, seen, advance: (ms) => void (now += ms) };
}

const forbidden = new ApiError(
  'watch /api/v1/nodes: HTTP 403 nodes is forbidden: no',
  403,
  'http',
  'nodes is forbidden: no',
);

t.test('synced and forbidden: ready until the bound, then 503 with the reason', async (t) => {
  const { h, seen, advance } = make();
  h.ok('nodes');
  h.ok('services');
  h.failed('nodes', forbidden);
  h.failed('nodes', forbidden); // a retry: no new transition
  t.same(
    seen.map((s) => `${s.resource}:${s.from}->${s.to}`),
    ['nodes:connecting->ok', 'services:connecting->ok', 'nodes:ok->forbidden'],
  );
  t.equal(h.notReadyReason(true), null, 'ready within the bound');
  advance(CONFIG_FAILURE_READY_BOUND_MS);
  t.match(h.notReadyReason(true), /answers cannot be kept fresh: nodes forbids access \(403, RBAC\) for 60s/);
  const st = h.status();
  t.equal(st.state, 'forbidden');
  t.equal(st.resource, 'nodes');
  t.equal(st.detail, 'nodes is forbidden: no');
  h.ok('nodes');
  t.equal(h.notReadyReason(true), null, 'ready again at the first answer');
  t.equal(h.status().state, 'ok');
});

t.test('an unreachable API server never fails readiness once synced', async (t) => {
  const { h, advance } = make();
  h.ok('nodes');
  h.ok('services');
  h.failed('nodes', new ApiError('connect ECONNREFUSED'));
  advance(10 * CONFIG_FAILURE_READY_BOUND_MS);
  t.equal(h.status().state, 'unreachable');
  t.equal(h.notReadyReason(true), null);
  t.match(h.notReadyReason(false), /never synced: the API server cannot be reached for nodes/);
});

t.test('410s and a single cut connection are routine; two cuts in a row are an outage', async (t) => {
  const { h, seen } = make();
  h.ok('nodes');
  h.failed('nodes', new ApiError('gone', 410));
  h.failed('nodes', new ApiError('closed mid-stream', undefined, 'dropped'));
  t.equal(h.get('nodes')?.state, 'ok');
  h.ok('nodes');
  h.failed('nodes', new ApiError('closed mid-stream', undefined, 'dropped'));
  t.equal(h.get('nodes')?.state, 'ok', 'an answer in between resets the count');
  h.failed('nodes', new ApiError('closed mid-stream', undefined, 'dropped'));
  t.equal(h.get('nodes')?.state, 'unreachable');
  t.equal(seen.length, 2);
  t.same([...h.errors.entries()], [['nodes\0unreachable', 1]], 'counted by resource and code');
});

t.test('an error answer between two cuts resets the count: 403, cut, 401 is two transitions, not three', async (t) => {
  // The access test's "403 then 401 mid-flight": each change of refusal is one ERROR line per resource,
  // whatever connections the change of refusal cut on the way.
  const { h, seen } = make();
  h.ok('nodes');
  h.failed('nodes', new ApiError('closed mid-stream', undefined, 'dropped'));
  h.failed('nodes', forbidden);
  h.failed('nodes', new ApiError('closed mid-stream', undefined, 'dropped'));
  t.equal(h.get('nodes')?.state, 'forbidden', 'the 403 was an answer: one cut after it is routine');
  h.failed('nodes', new ApiError('HTTP 401', 401, 'http'));
  t.same(
    seen.map((s) => `${s.from}->${s.to}`),
    ['connecting->ok', 'ok->forbidden', 'forbidden->unauthorized'],
  );
});

t.test('classification: tls, 401, credentials, other HTTP', async (t) => {
  const { h } = make();
  h.failed('nodes', new ApiError('TLS: unable to verify', undefined, 'tls', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'));
  t.equal(h.get('nodes')?.state, 'tls');
  t.equal(h.get('nodes')?.detail, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  h.failed('services', new ApiError('cannot read token file', undefined, 'credentials'));
  t.equal(h.get('services')?.state, 'unauthorized');
  t.equal(h.status().state, 'tls', 'the worst resource is the overall state');
  h.failed('services', new ApiError('HTTP 500', 500, 'http'));
  t.equal(h.get('services')?.state, 'error');
});

t.test('before the first list: /readyz names what it waits for, the decision too in coordinated mode', async (t) => {
  const local = new ApiHealth(['nodes', 'services', 'endpointslices'], () => {});
  t.equal(local.notReadyReason(false), 'waiting for the first full list of Nodes, Services and EndpointSlices');
  const coordinated = new ApiHealth(['nodes', 'services', 'endpointslices', 'configmaps'], () => {});
  t.equal(
    coordinated.notReadyReason(false),
    'waiting for the first full list of Nodes, Services and EndpointSlices and the coordinator decision',
  );
});

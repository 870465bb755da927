// A coordinated agent that may not read the decision ConfigMap (RBAC: 403): it still answers, with
// the 'missing' semantics (automatic drains held, explicit intent honoured), and says why.
import t from 'tap';
import { probeUntil } from '../lib/probe.js';
import { httpGet, kubectl, startAgent, startApi } from '../lib/agent-process.js';
import { READY, WEB, agentStatus, cordonPatch, node } from '../lib/coordinator-process.js';
import { deadline } from '../lib/deadline.js';
import { until } from '../lib/until.js';

t.setTimeout(600_000);

interface ApiBlock {
  state: string;
  resource?: string;
  resources: Record<string, { state: string; lastError: string | null; detail?: string }>;
}

t.test('decision ConfigMap forbidden: a cordon is held, state=drain is answered, the 403 is named', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  api.faults.forbidden.add('configmaps');
  for (const n of ['a', 'b']) node(api, n);
  api.patch('nodes', undefined, 'a', cordonPatch('2026-01-01T00:00:01Z'));
  api.create('services', {
    metadata: { namespace: 'shop', name: 'web' },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
  });
  const a = await startAgent(t, ['--node-name', 'a', '--kubeconfig', kubeconfig, '--guard-mode', 'coordinated']);

  t.equal(
    await probeUntil(a.agentPort, WEB, (r) => r === READY, 20_000),
    READY,
    'no decision can be read: the cordon (an automatic drain) is held, the node keeps serving',
  );
  t.equal((await agentStatus(a)).guard.selfHeld, true, '/status: held');
  const s = JSON.parse((await httpGet(a.httpPort, '/status')).body) as { api: ApiBlock };
  t.equal(s.api.resources.configmaps?.state, 'forbidden', '/status names the 403 on configmaps');
  t.match(s.api.resources.configmaps?.detail, /configmaps is forbidden/, 'with the RBAC message');
  t.equal(s.api.resource, 'configmaps', 'the worst resource is configmaps');
  const errorLines = () => a.logs.filter((l) => l.level === 'error' && l.resource === 'configmaps');
  const errors = await until(
    'the ERROR line',
    async () => errorLines(),
    (l) => l.length > 0,
    deadline(10_000),
    50,
  );
  t.equal(errors.length, 1, 'one ERROR line for configmaps, not one per retry');
  t.match(String(errors[0]?.msg), /forbids access \(403, RBAC\) for configmaps/, 'it names the 403');
  t.match(String(errors[0]?.msg), /automatic drains are held/, 'and says what the agent does meanwhile');

  await kubectl(kubeconfig, 'annotate', 'node', 'a', 'haproxy-node-agent.io/state=drain');
  t.equal(
    await probeUntil(a.agentPort, WEB, (r) => r === 'drain\n', 10_000),
    'drain\n',
    'explicit state=drain is honoured without a decision',
  );

  // Access granted: the decision is read (none was ever written: still 'missing') and health recovers.
  api.faults.forbidden.delete('configmaps');
  const back = await until(
    'configmaps readable',
    async () => (JSON.parse((await httpGet(a.httpPort, '/status')).body) as { api: ApiBlock }).api,
    (x) => x.resources.configmaps?.state === 'ok',
    deadline(60_000),
    200,
  );
  t.equal(back.state, 'ok', 'every resource answers again');
});

// The claims record's ConfigMap against the wire-level fake API server (in process, as render-cli
// does): created when absent, updated on the resourceVersion read, re-read and re-resolved on a
// 409, never written over when it does not parse.
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { CLAIMS_KEY, type ClaimsDocument, parseClaimsDocument } from '../../src/core/claims-document.js';
import { loadClaims, recordClaims } from '../../src/kube/claims-record.js';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { ApiError, ApiTransport } from '../../src/kube/transport.js';
import { FakeApiServer } from '../../src/testkit/fakeapi/server.js';
import { tempDir } from '../lib/spawn.js';

const REF = { namespace: 'edge', name: 'claims' };
const NOW = '2026-03-01T12:00:00.000Z';

async function setup(t: Test): Promise<{ api: FakeApiServer; transport: ApiTransport }> {
  const api = new FakeApiServer();
  await api.start();
  t.teardown(() => api.stop());
  const kc = join(tempDir(t, 'hna-claims-'), 'kubeconfig');
  api.writeKubeconfig(kc);
  return { api, transport: new ApiTransport(loadKubeConfig(kc, {}), 10_000, () => undefined) };
}

/** A mutator adding one host claim (undefined when already there). */
const claim =
  (host: string, owner: string) =>
  (cur: ClaimsDocument): ClaimsDocument | undefined => {
    if (cur.hosts.has(host)) return undefined;
    const hosts = new Map(cur.hosts);
    hosts.set(host, { owner, service: `${owner}/web`, uid: '', since: NOW });
    return { ...cur, hosts };
  };

const stored = (api: FakeApiServer): ClaimsDocument =>
  parseClaimsDocument(
    ((api.get('configmaps', REF.namespace, REF.name)?.data ?? {}) as Record<string, string>)[CLAIMS_KEY] ?? '',
  );

t.test('absent, created, updated, unchanged', async (t) => {
  const { api, transport } = await setup(t);
  t.same(await loadClaims(transport, REF), { status: 'absent', record: parseClaimsDocument('{"version":1}') });
  t.equal((await recordClaims(transport, REF, claim('a.example', 'c/a'))).outcome, 'created');
  t.equal((await recordClaims(transport, REF, claim('b.example', 'c/b'))).outcome, 'updated');
  t.equal((await recordClaims(transport, REF, claim('b.example', 'c/b'))).outcome, 'unchanged');
  const state = await loadClaims(transport, REF);
  t.equal(state.status, 'read');
  t.same([...state.record.hosts.keys()], ['a.example', 'b.example']);
  t.same(api.get('configmaps', REF.namespace, REF.name)?.metadata.labels, {
    'app.kubernetes.io/name': 'haproxy-node-agent',
    'app.kubernetes.io/component': 'edge-claims',
  });
});

t.test('two writers: a write in between is a 409, and the retry keeps both claims', async (t) => {
  const { api, transport } = await setup(t);
  await recordClaims(transport, REF, claim('a.example', 'c/a'));
  let calls = 0;
  const r = await recordClaims(transport, REF, (cur) => {
    // The other writer lands between our read and our write, once.
    if (calls++ === 0) {
      const cm = api.get('configmaps', REF.namespace, REF.name)!;
      const other = claim('other.example', 'c/o')(stored(api))!;
      api.update('configmaps', {
        ...cm,
        data: { [CLAIMS_KEY]: JSON.stringify({ version: 1, hosts: Object.fromEntries(other.hosts) }) },
      });
    }
    return claim('b.example', 'c/b')(cur);
  });
  t.equal(r.outcome, 'updated');
  t.equal(calls, 2, 'asked again after the 409, with the record as it is now');
  t.same([...stored(api).hosts.keys()].sort(), ['a.example', 'b.example', 'other.example']);

  // Someone always writes in between: give up after the attempts, having written nothing of ours.
  const always = await recordClaims(
    transport,
    REF,
    (cur) => {
      const cm = api.get('configmaps', REF.namespace, REF.name)!;
      api.update('configmaps', { ...cm, metadata: { ...cm.metadata, labels: { n: String(Math.random()) } } });
      return claim('never.example', 'c/n')(cur);
    },
    3,
  );
  t.equal(always.outcome, 'conflict');
  t.notOk(stored(api).hosts.has('never.example'));
});

t.test('a record that does not parse is reported and never written over', async (t) => {
  const { api, transport } = await setup(t);
  api.create('configmaps', {
    metadata: { namespace: REF.namespace, name: REF.name },
    data: { [CLAIMS_KEY]: '{"version":1,"hosts":{"a.example":{"owner":"nope"}}}', other: 'kept' },
  });
  const state = await loadClaims(transport, REF);
  t.equal(state.status, 'unreadable');
  t.match(
    state.status === 'unreadable' ? state.error : '',
    /ConfigMap edge\/claims claims\.json is unreadable: .*owner/,
  );
  t.equal(state.record.hosts.size, 0, 'read as empty');
  const r = await recordClaims(transport, REF, claim('b.example', 'c/b'));
  t.equal(r.outcome, 'unreadable');
  t.match(api.get('configmaps', REF.namespace, REF.name)?.data, { [CLAIMS_KEY]: /"nope"/, other: 'kept' });

  // Fixed by hand: the next write keeps the ConfigMap's other keys.
  const cm = api.get('configmaps', REF.namespace, REF.name)!;
  api.update('configmaps', { ...cm, data: { ...(cm.data as Record<string, string>), [CLAIMS_KEY]: '{"version":1}' } });
  t.equal((await recordClaims(transport, REF, claim('b.example', 'c/b'))).outcome, 'updated');
  t.match(api.get('configmaps', REF.namespace, REF.name)?.data, { other: 'kept' });
});

t.test('RBAC: a refused read is unreadable; a refused write throws', async (t) => {
  const { api, transport } = await setup(t);
  api.faults.forbidden.add('configmaps');
  const state = await loadClaims(transport, REF);
  t.equal(state.status, 'unreadable');
  t.match(state.status === 'unreadable' ? state.error : '', /403 configmaps is forbidden/);
  t.equal((await recordClaims(transport, REF, claim('a.example', 'c/a'))).outcome, 'unreadable');
  api.faults.forbidden.delete('configmaps');
  api.faults.failRequests = 2;
  api.faults.failStatus = 403;
  // The read fails first: unreadable, nothing written.
  t.equal((await recordClaims(transport, REF, claim('a.example', 'c/a'))).outcome, 'unreadable');
  // Read passes (absent), the create is refused.
  api.faults.failRequests = 0;
  await loadClaims(transport, REF);
  const err = await recordClaims(transport, REF, (cur) => {
    api.faults.failRequests = 1;
    return claim('a.example', 'c/a')(cur);
  }).catch((e: unknown) => e);
  t.ok(err instanceof ApiError && err.statusCode === 403, 'the refused write is an ApiError');
});

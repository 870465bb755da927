// Issue 22 item 2: who owns a host or a backend name. The claims record dates a claim from when it
// was made, where no tenant can rewrite it; an owner is a (cluster, namespace) pair.
import t from 'tap';
import {
  type ClaimEntry,
  type ClaimsDocument,
  ClaimsFormatError,
  emptyClaims,
  MAX_CLAIM_ENTRIES,
  parseClaimsDocument,
  serializeClaimsDocument,
} from '../../src/core/claims-document.js';
import { type ClaimRequest, claimsUpdate, QUARANTINE_MS, resolveClaims } from '../../src/edge/claims.js';
import { buildModel, type ClusterSnapshot } from '../../src/edge/model.js';

const P = 'haproxy-node-agent.io';
const SHARE = `${P}/share-with`;
const NOW = '2026-03-01T12:00:00.000Z';
const at = (ms: number): string => new Date(Date.parse(NOW) + ms).toISOString();
const OLD = Date.parse('2024-01-01T00:00:00Z');
const RECENT = Date.parse('2025-09-01T00:00:00Z');

function req(
  id: string,
  want: { host?: string; backend?: string; created?: number; share?: string[] } = {},
): ClaimRequest {
  const [cluster, namespace, name] = id.split('/') as [string, string, string];
  return {
    cluster,
    namespace,
    name,
    created: want.created ?? RECENT,
    uid: `uid-${cluster}-${namespace}-${name}`,
    shareWith: new Set(want.share ?? []),
    host: want.host,
    backend: want.backend,
  };
}

function recordOf(hosts: Record<string, ClaimEntry>, backends: Record<string, ClaimEntry> = {}): ClaimsDocument {
  return {
    hosts: new Map(Object.entries(hosts)),
    backends: new Map(Object.entries(backends)),
    ports: new Map(),
    extra: new Map(),
  };
}

const entry = (owner: string, service: string, since = '2025-10-01T00:00:00.000Z'): ClaimEntry => ({
  owner,
  service,
  uid: `uid-${service.replaceAll('/', '-')}`,
  since,
});

const opts = (clusters: string[] = ['a', 'b']) => ({ shareKey: SHARE, clusters: new Set(clusters) });
const names = (rs: readonly ClaimRequest[]): string[] => rs.map((r) => `${r.cluster}/${r.namespace}/${r.name}`);

t.test('a recorded host: an older Service annotated later cannot take it', async (t) => {
  const record = recordOf({ 'shop.example.com': entry('a/shop', 'a/shop/web') });
  const r = resolveClaims(
    [
      req('a/shop/web', { host: 'shop.example.com', created: RECENT }),
      req('a/evil/old', { host: 'shop.example.com', created: OLD }),
    ],
    record,
    NOW,
    opts(),
  );
  t.same(names(r.admitted), ['a/shop/web']);
  t.equal(r.hosts.get('shop.example.com')?.owner, 'a/shop');
  t.same(r.warnings, [
    'service a/evil/old: host shop.example.com belongs to a/shop (service a/shop/web; claim recorded ' +
      `2025-10-01T00:00:00.000Z), which does not share it with a/evil (${SHARE}); skipped`,
  ]);
  t.notOk(r.changed, 'nothing new to record');
});

t.test('an unrecorded host several owners claim serves none of them, and nothing is recorded', async (t) => {
  const r = resolveClaims(
    [
      req('a/shop/web', { host: 'shop.example.com', created: RECENT }),
      req('a/evil/old', { host: 'shop.example.com', created: OLD, share: ['a/shop'] }),
    ],
    emptyClaims(),
    NOW,
    opts(),
  );
  t.same(r.admitted, [], 'the older one does not win by age, even when it lets the other in');
  t.equal(r.warnings.length, 2, 'one warning per claimant');
  t.match(
    r.warnings[0],
    /^service a\/shop\/web: host shop\.example\.com is claimed by a\/evil, a\/shop and the claims/,
  );
  t.notOk(r.changed);
});

t.test('one claimant: recorded from now, the same on the next run', async (t) => {
  const reqs = [req('a/shop/web', { host: 'shop.example.com' }), req('a/shop/api', { backend: 'api' })];
  const r = resolveClaims(reqs, emptyClaims(), NOW, opts());
  t.same(names(r.admitted), ['a/shop/web', 'a/shop/api']);
  t.ok(r.changed);
  t.same(r.record.hosts.get('shop.example.com'), {
    owner: 'a/shop',
    service: 'a/shop/web',
    uid: 'uid-a-shop-web',
    since: NOW,
  });
  t.same(r.record.backends.get('api')?.owner, 'a/shop');
  const again = resolveClaims(reqs, r.record, at(60_000), opts());
  t.notOk(again.changed, 'a recorded claim keeps its date');
  t.equal(again.record.hosts.get('shop.example.com')?.since, NOW);
});

t.test('another cluster: a same-named namespace neither joins nor takes; CLUSTER/NS lets it in', async (t) => {
  const record = recordOf({ 'shop.example.com': entry('a/shop', 'a/shop/web') });
  const theirs = req('b/shop/web', { host: 'shop.example.com', created: OLD });
  const refused = resolveClaims([req('a/shop/web', { host: 'shop.example.com' }), theirs], record, NOW, opts());
  t.same(names(refused.admitted), ['a/shop/web'], 'b/shop is a stranger');
  t.match(refused.warnings, [/^service b\/shop\/web: .* belongs to a\/shop .* does not share it with b\/shop/]);

  const bare = resolveClaims(
    [req('a/shop/web', { host: 'shop.example.com', share: ['a/shop'] }), theirs],
    record,
    NOW,
    opts(),
  );
  t.same(names(bare.admitted), ['a/shop/web'], "a bare namespace in share-with means the owner's own cluster");

  const shared = resolveClaims(
    [req('a/shop/web', { host: 'shop.example.com', share: ['b/shop'] }), theirs],
    record,
    NOW,
    opts(),
  );
  t.same(names(shared.admitted), ['a/shop/web', 'b/shop/web'], 'explicit b/shop joins');
  t.equal(shared.hosts.get('shop.example.com')?.owner, 'a/shop', 'and does not take the host');

  // Without a record: the two clusters merge only when each names the other.
  const mutual = resolveClaims(
    [
      req('a/shop/web', { host: 'shop.example.com', share: ['b/shop'] }),
      req('b/shop/web', { host: 'shop.example.com', share: ['a/shop'], created: OLD }),
    ],
    emptyClaims(),
    NOW,
    opts(),
  );
  t.same(names(mutual.admitted), ['a/shop/web', 'b/shop/web']);
  t.equal(mutual.record.hosts.get('shop.example.com')?.owner, 'b/shop', 'the oldest of owners who agree is recorded');
});

t.test('quarantine: a gone owner keeps its host for 24 h from when a run first saw it gone', async (t) => {
  const record = recordOf({ 'shop.example.com': entry('a/shop', 'a/shop/web') });
  const thief = [req('a/evil/x', { host: 'shop.example.com' })];
  const first = resolveClaims(thief, record, NOW, opts());
  t.same(first.admitted, []);
  t.equal(first.record.hosts.get('shop.example.com')?.vacated, NOW);
  t.match(first.warnings, [new RegExp(`is held for a/shop until ${at(QUARANTINE_MS).replace(/\./g, '\\.')}`)]);

  const later = resolveClaims(thief, first.record, at(QUARANTINE_MS - 1), opts());
  t.same(later.admitted, [], 'still held a moment before');
  t.notOk(later.changed, 'the clock runs from the first sighting');

  const released = resolveClaims(thief, first.record, at(QUARANTINE_MS), opts());
  t.same(names(released.admitted), ['a/evil/x'], 'released: the newcomer is the one claimant');
  t.same(released.record.hosts.get('shop.example.com'), {
    owner: 'a/evil',
    service: 'a/evil/x',
    uid: 'uid-a-evil-x',
    since: at(QUARANTINE_MS),
  });

  const nobody = resolveClaims([], first.record, at(QUARANTINE_MS), opts());
  t.equal(nobody.record.hosts.size, 0, 'an unclaimed host is released from the record');

  const back = resolveClaims(
    [req('a/shop/web2', { host: 'shop.example.com' }), ...thief],
    first.record,
    at(1000),
    opts(),
  );
  t.same(names(back.admitted), ['a/shop/web2'], 'the owner comes back within the quarantine');
  t.same(
    back.record.hosts.get('shop.example.com'),
    { owner: 'a/shop', service: 'a/shop/web2', uid: 'uid-a-shop-web2', since: '2025-10-01T00:00:00.000Z' },
    'no longer vacated; names a Service that claims it; keeps its date',
  );
});

t.test('an owner in a cluster this run did not read keeps its host, unvacated', async (t) => {
  const record = recordOf({ 'shop.example.com': entry('b/shop', 'b/shop/web') });
  const r = resolveClaims([req('a/evil/x', { host: 'shop.example.com' })], record, NOW, opts(['a']));
  t.same(r.admitted, []);
  t.match(r.warnings, [/belongs to b\/shop .* whose cluster this run did not read; skipped/]);
  t.notOk(r.changed);
});

t.test('explicit backend names: recorded the same way, after hosts', async (t) => {
  const record = recordOf({}, { payments: entry('a/pay', 'a/pay/api') });
  const r = resolveClaims(
    [req('a/pay/api', { backend: 'payments' }), req('b/pay/api', { backend: 'payments', created: OLD })],
    record,
    NOW,
    opts(),
  );
  t.same(names(r.admitted), ['a/pay/api']);
  t.match(r.warnings, [/^service b\/pay\/api: backend payments belongs to a\/pay /]);
});

t.test('caps: past the entry cap new claims serve but are not recorded, with one warning', async (t) => {
  const full = emptyClaims();
  for (let i = 0; i < MAX_CLAIM_ENTRIES; i++) full.hosts.set(`h${i}.example.com`, entry('a/x', 'a/x/y'));
  const fresh = [req('a/shop/web', { host: 'new.example.com' })];
  const r = resolveClaims(fresh, full, NOW, opts(['b']));
  t.same(names(r.admitted), ['a/shop/web']);
  t.notOk(r.record.hosts.has('new.example.com'));
  t.match(r.warnings.at(-1), /^claims record: full .* 1 new claims not recorded/);
  const update = claimsUpdate({ requests: fresh, options: opts(['b']) }, NOW);
  t.equal(update(full), undefined, 'nothing to write');
  t.ok(update(emptyClaims())?.hosts.has('new.example.com'), 'the mutator re-resolves against the record it is given');
});

t.test('the record document: strict, bounded, stable', async (t) => {
  const good = {
    version: 1,
    hosts: { 'shop.example.com': { owner: 'prod eu/shop', service: 'prod eu/shop/web', uid: 'u-1', since: NOW } },
    backends: { 'be:1': { owner: 'a/b', service: 'a/b/c', uid: '', since: NOW, vacated: NOW } },
    ports: { '5432': { owner: 'a/db', service: 'a/db/pg', uid: 'u-2', since: NOW } },
    udpPorts: { '8443': 'a newer section, kept' },
  };
  const doc = parseClaimsDocument(JSON.stringify(good));
  t.equal(doc.hosts.get('shop.example.com')?.owner, 'prod eu/shop');
  t.same(JSON.parse(serializeClaimsDocument(doc)), good, 'round trip, unknown sections kept');
  t.equal(serializeClaimsDocument(parseClaimsDocument(serializeClaimsDocument(doc))), serializeClaimsDocument(doc));
  const bad = (v: unknown): string => JSON.stringify(v);
  const cases: Array<[string, RegExp]> = [
    ['nope', /not JSON/],
    [bad([]), /expected an object/],
    [bad({ version: 2 }), /version/],
    [bad({ version: 1, hosts: { 'Not A Host': good.hosts['shop.example.com'] } }), /is no name/],
    [bad({ version: 1, ports: { '65536': good.hosts['shop.example.com'] } }), /is no name/],
    [bad({ version: 1, ports: { '0443': good.hosts['shop.example.com'] } }), /is no name/],
    [bad({ version: 1, hosts: { 'h.example': { ...good.hosts['shop.example.com'], owner: 'shop' } } }), /owner/],
    [bad({ version: 1, hosts: { 'h.example': { ...good.hosts['shop.example.com'], owner: 'a\n/shop' } } }), /owner/],
    [bad({ version: 1, hosts: { 'h.example': { ...good.hosts['shop.example.com'], since: 'yesterday' } } }), /since/],
    [bad({ version: 1, hosts: { 'h.example': { ...good.hosts['shop.example.com'], uid: 'x'.repeat(200) } } }), /uid/],
    [bad({ version: 1, hosts: { __proto__: null, 'h.example': 7 } }), /expected an object/],
    [' '.repeat(1024 * 1024), /more than/],
  ];
  for (const [text, re] of cases) t.throws(() => parseClaimsDocument(text), re, text.slice(0, 60));
  t.throws(() => parseClaimsDocument('[]'), ClaimsFormatError);
  const many = { version: 1, hosts: {} as Record<string, unknown> };
  for (let i = 0; i <= MAX_CLAIM_ENTRIES; i++)
    many.hosts[`h${i}.x`] = { owner: 'a/b', service: 'a/b/c', uid: '', since: NOW };
  t.throws(() => parseClaimsDocument(JSON.stringify(many)), /more than 5000 entries/);
});

t.test('buildModel: the record decides; warnings name both Services with their clusters', async (t) => {
  const node = {
    metadata: { name: 'n1' },
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
    },
  };
  const svc = (ns: string, name: string, created: string, ann: Record<string, string>): object => ({
    metadata: {
      namespace: ns,
      name,
      uid: `uid-${ns}-${name}`,
      creationTimestamp: created,
      annotations: Object.fromEntries(Object.entries({ expose: 'true', ...ann }).map(([k, v]) => [`${P}/${k}`, v])),
    },
    spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] },
  });
  const clusters: ClusterSnapshot[] = [
    {
      name: 'a',
      nodes: [node],
      services: [
        svc('shop', 'web', '2025-09-01T00:00:00Z', { host: 'shop.example.com' }),
        svc('evil', 'old', '2024-01-01T00:00:00Z', { host: 'shop.example.com' }),
        svc('evil', 'rename', '2024-01-01T00:00:00Z', { backend: 'shop.example.com' }),
      ],
    },
    { name: 'b', nodes: [node], services: [svc('shop', 'old', '2024-01-01T00:00:00Z', { host: 'shop.example.com' })] },
  ];
  const record = recordOf({ 'shop.example.com': entry('a/shop', 'a/shop/web') });
  const m = buildModel(clusters, { annotationPrefix: P, nodesPerService: 6, claims: { record, now: NOW } });
  t.same(
    m.backends.map((b) => [b.name, b.services.map((s) => s.identity)]),
    [['shop.example.com', ['a/shop/web']]],
  );
  t.same(m.routes, [{ host: 'shop.example.com', path: '/', backend: 'shop.example.com' }]);
  t.match(m.warnings, [
    /^service a\/evil\/old: host shop\.example\.com belongs to a\/shop \(service a\/shop\/web; claim recorded/,
    /^service b\/shop\/old: host shop\.example\.com belongs to a\/shop .* does not share it with b\/shop/,
    /^service a\/evil\/rename: backend name shop\.example\.com belongs to a\/shop \(service a\/shop\/web\), .* a\/evil/,
  ]);
  t.notOk(m.claims.changed, "an explicit name equal to shop's derived one is refused, not recorded for evil");
  t.equal(m.claims.record.hosts.get('shop.example.com')?.since, '2025-10-01T00:00:00.000Z');
});

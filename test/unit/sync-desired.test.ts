// What sync wants HAProxy to run (src/sync/desired.ts) and the exact runtime API commands each
// operation sends (src/sync/runtime.ts commandsFor): what --dry-run prints and the socket receives.
import t from 'tap';
import { buildModel } from '../../src/edge/model.js';
import { renderHaproxy } from '../../src/edge/output.js';
import { Template } from '../../src/edge/template.js';
import { desiredState, serverCount } from '../../src/sync/desired.js';
import { commandsFor, runtimeAddable, type ServerSettings } from '../../src/sync/runtime.js';

const node = (name: string, address: { type: string; address: string }) => ({
  metadata: { name },
  status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [address] },
});
const svc = (ns: string, name: string, host: string, nodePort: number) => ({
  metadata: {
    namespace: ns,
    name,
    annotations: { 'haproxy-node-agent.io/expose': 'true', 'haproxy-node-agent.io/host': host },
  },
  spec: { type: 'NodePort', ports: [{ port: 80, nodePort }] },
});
const model = buildModel(
  [
    {
      name: 'eu',
      nodes: [
        node('n1', { type: 'InternalIP', address: '10.0.0.1' }),
        node('n2', { type: 'InternalIP', address: 'fd00::2' }),
        node('n3', { type: 'Hostname', address: 'n3.example' }),
      ],
      services: [svc('shop', 'web', 'shop.example.com', 30080), svc('blog', 'www', 'blog.example.com', 30090)],
    },
  ],
  { annotationPrefix: 'haproxy-node-agent.io', nodesPerService: 6 },
);
const settings = { agentPort: 9300, agentInterMs: 2000, slowstartMs: 0, bind: ':80', nodesPerService: 6 };

t.test("desiredState: the text is render's, byte for byte", async (t) => {
  const d = desiredState(model, settings);
  t.equal(d.text, renderHaproxy(model, settings));
  t.same(d.warnings, model.warnings);
});

t.test('desiredState: structure drops servers and comments', async (t) => {
  const d = desiredState(model, settings);
  t.notMatch(d.structure, /^\s*(server |#)/m);
  t.match(d.structure, /^backend shop\.example\.com$/m);
  t.equal(
    d.structure,
    d.text
      .split('\n')
      .filter((l) => !/^\s*(server |#)/.test(l))
      .join('\n'),
  );
  const tmpl = new Template(
    '{{#each backends}}\nbackend {{name}}\n{{#each servers}}\n  server {{name}} {{address}}\n{{/each}}\n{{/each}}\n',
  );
  const own = desiredState(model, settings, tmpl);
  t.equal(own.structure, own.text, 'a --template: the whole text is structure');
  t.match(own.text, /^ {2}server eu_n1_shop_web 10\.0\.0\.1:30080$/m);
});

t.test('desiredState: servers keyed by backend and server name, as the runtime API names them', async (t) => {
  const d = desiredState(model, settings);
  t.same([...d.servers.keys()].sort(), ['blog.example.com', 'shop.example.com']);
  t.same([...d.servers.get('shop.example.com')!.keys()].sort(), ['eu_n1_shop_web', 'eu_n2_shop_web', 'eu_n3_shop_web']);
  t.same(d.servers.get('shop.example.com')!.get('eu_n2_shop_web'), {
    backend: 'shop.example.com',
    name: 'eu_n2_shop_web',
    address: 'fd00::2',
    port: 30080,
    key: 'shop/web',
    cluster: 'eu',
    node: 'n2',
  });
  t.same(
    serverCount(d),
    new Map([
      ['blog.example.com', 3],
      ['shop.example.com', 3],
    ]),
  );
  // Every server of the file is one of these, under the same name.
  for (const [b, m] of d.servers)
    for (const name of m.keys())
      t.match(d.text, new RegExp(`^backend ${b.replace(/\./g, '\\.')}$[\\s\\S]*^  server ${name} `, 'm'));
});

const S = 'shop.example.com';
const N = 'eu_n1_shop_web';
const d1 = { backend: S, name: N, address: '10.0.0.1', port: 30080, key: 'shop/web', cluster: 'eu', node: 'n1' };
const base: ServerSettings = { agentPort: 9300, agentInterMs: 2000, slowstartMs: 0, shutdownSessionsOnDown: false };

t.test('commandsFor: add (weight 100 and the agent-check as in the file; then enable agent and health)', async (t) => {
  t.same(commandsFor('add', d1, base), [
    `add server ${S}/${N} 10.0.0.1:30080 weight 100 check agent-check agent-port 9300 agent-addr 10.0.0.1 ` +
      'agent-inter 2000ms agent-send shop/web',
    `enable agent ${S}/${N}`,
    `enable health ${S}/${N}`,
  ]);
  t.same(
    commandsFor(
      'add',
      { ...d1, address: 'fd00::1' },
      { ...base, slowstartMs: 30_000, shutdownSessionsOnDown: true },
    )[0],
    `add server ${S}/${N} [fd00::1]:30080 weight 100 check agent-check agent-port 9300 agent-addr fd00::1 ` +
      'agent-inter 2000ms agent-send shop/web slowstart 30000ms on-marked-down shutdown-sessions',
    'IPv6 in brackets, slowstart and on-marked-down',
  );
});

t.test('commandsFor: readdress (the agent follows only when the address moved)', async (t) => {
  t.same(commandsFor('readdress', d1, base), [
    `set server ${S}/${N} addr 10.0.0.1 port 30080`,
    `set server ${S}/${N} agent-addr 10.0.0.1`,
  ]);
  t.same(commandsFor('readdress', d1, base, { address: '10.0.0.1', port: 31000 }), [
    `set server ${S}/${N} addr 10.0.0.1 port 30080`,
  ]);
  t.same(commandsFor('readdress', d1, base, { address: '10.0.0.9', port: 30080 }), [
    `set server ${S}/${N} addr 10.0.0.1 port 30080`,
    `set server ${S}/${N} agent-addr 10.0.0.1`,
  ]);
});

t.test('commandsFor: drain, restore, delete', async (t) => {
  const ref = { backend: S, name: N };
  t.same(commandsFor('drain', ref, base), [
    `disable agent ${S}/${N}`,
    `disable health ${S}/${N}`,
    `set server ${S}/${N} state drain`,
  ]);
  t.same(commandsFor('restore', ref, base), [
    `set server ${S}/${N} state ready`,
    `enable health ${S}/${N}`,
    `enable agent ${S}/${N}`,
  ]);
  t.same(commandsFor('delete', ref, base), [`set server ${S}/${N} state maint`, `del server ${S}/${N}`]);
});

t.test('runtimeAddable: IPs only; a host name is refused by the builders', async (t) => {
  t.ok(runtimeAddable(d1));
  t.ok(runtimeAddable({ ...d1, address: 'fd00::1' }));
  t.notOk(runtimeAddable({ ...d1, address: 'n3.example' }));
  t.throws(() => commandsFor('add', { ...d1, address: 'n3.example' }, base), /is not an IP address/);
  t.throws(() => commandsFor('readdress', { ...d1, address: 'n3.example' }, base), /is not an IP address/);
});

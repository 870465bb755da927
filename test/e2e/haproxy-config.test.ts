// The generated config is accepted by the real HAProxy (`haproxy -c`), and `show stat` CSV parses.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { quoteHaproxyString, renderHaproxyConfig, type HaproxySpec } from '../../src/testkit/haproxy/edge-config.js';
import { parseCsvLine, parseShowStat, serverRows } from '../../src/testkit/haproxy/stats.js';
import { requireHaproxy } from '../lib/haproxy.js';
import { runChild, tempDir } from '../lib/spawn.js';

const spec = (statsSocket: string): HaproxySpec => ({
  statsSocket,
  checkTimeoutMs: 500,
  idleTimeoutMs: 30_000,
  frontends: [
    {
      name: 'edge',
      address: '127.0.0.1',
      port: 18080,
      mode: 'http',
      routes: [{ pathPrefix: '/web/', backend: 'web' }],
    },
  ],
  backends: [
    {
      name: 'web',
      mode: 'http',
      balance: 'roundrobin',
      servers: [
        {
          name: 'web.node-a',
          address: '127.0.0.1',
          port: 30080,
          weight: 100,
          checkInterMs: 500,
          agent: { addr: '127.0.0.1', port: 9300, send: 'shop/web\n', interMs: 100 },
        },
        { name: 'other', address: '127.0.0.1', port: 30081, weight: 100, checkInterMs: 500 },
      ],
    },
  ],
});

t.test('server lines carry weight, check and the agent-check with agent-send', async (t) => {
  const cfg = renderHaproxyConfig(spec('/tmp/x/admin.sock'));
  t.match(
    cfg,
    'server web.node-a 127.0.0.1:30080 weight 100 check inter 500ms ' +
      'agent-check agent-addr 127.0.0.1 agent-port 9300 agent-inter 100ms agent-send "shop/web\\n"\n',
  );
  t.match(cfg, 'server other 127.0.0.1:30081 weight 100 check inter 500ms\n');
  t.match(cfg, '  stats socket /tmp/x/admin.sock mode 600 level admin\n');
  t.notMatch(cfg, /^\s*daemon/m, 'never daemon: we stop it by pid');
  t.equal(quoteHaproxyString('a"b\\c\n'), '"a\\"b\\\\c\\n"');
  t.throws(
    () =>
      renderHaproxyConfig({
        ...spec('/s'),
        backends: [
          {
            name: 'web',
            mode: 'http',
            balance: 'roundrobin',
            servers: [{ name: 'web@node-a', address: '127.0.0.1', port: 1, weight: 1, checkInterMs: 500 }],
          },
        ],
      }),
    /not a valid HAProxy name/,
  );
});

t.test('show stat CSV: quoted fields, server rows only', async (t) => {
  t.same(parseCsvLine('a,"b,c",,"d ""e"""'), ['a', 'b,c', '', 'd "e"']);
  const csv =
    '# pxname,svname,scur,stot,status,weight,type,last_agt,agent_status,\n' +
    'web,FRONTEND,0,0,OPEN,,0,,,\n' +
    'web,node-a,1,7,DRAIN (agent),100,2,"via agent : up, maybe",CHECKED,\n' +
    'web,BACKEND,0,0,UP,100,1,,,\n';
  t.same(
    serverRows(parseShowStat(csv)).map(({ raw: _raw, ...s }) => s),
    [
      {
        backend: 'web',
        server: 'node-a',
        status: 'DRAIN (agent)',
        weight: 100,
        lastAgent: 'via agent : up, maybe',
        agentStatus: 'CHECKED',
        sessions: 1,
        totalSessions: 7,
      },
    ],
  );
  t.throws(() => parseShowStat('Unknown command\n'), /not "show stat" output/);
});

t.test('haproxy -c accepts the generated config', async (t) => {
  const bin = requireHaproxy(t);
  if (bin === undefined) return;
  const dir = tempDir(t, 'hna-cfg-');
  const path = join(dir, 'haproxy.cfg');
  writeFileSync(path, renderHaproxyConfig(spec(join(dir, 'admin.sock'))));
  const r = await runChild(bin, ['-c', '-f', path]);
  const result = { code: r.code, out: r.stdout + r.stderr };
  t.equal(result.code, 0, result.out);
  t.match(result.out, /Configuration file is valid/);
});

// The runtime API builders (checked names, IPv6 as 2.6 wants it) and commandFailed on the replies
// HAProxy 2.6.12 printed to them (test/e2e/haproxy-runtime.test.ts runs them for real).
import t from 'tap';
import * as cmd from '../../src/haproxy/server-commands.js';

t.test('add server: every keyword 2.6 accepts, in one line', async (t) => {
  t.equal(
    cmd.addServer('shop.example.com_api', 'web.node-a:1', {
      address: '10.0.0.1',
      port: 30080,
      check: true,
      checkInterMs: 2000,
      agentAddress: '10.0.0.1',
      agentPort: 9300,
      agentInterMs: 1000,
      agentSend: 'shop/web',
      weight: 100,
      slowstartMs: 5000,
      shutdownSessionsOnDown: true,
    }),
    'add server shop.example.com_api/web.node-a:1 10.0.0.1:30080 weight 100 check inter 2000ms ' +
      'agent-check agent-port 9300 agent-addr 10.0.0.1 agent-inter 1000ms agent-send shop/web ' +
      'slowstart 5000ms on-marked-down shutdown-sessions',
  );
  t.equal(
    cmd.addServer('be', 's', { address: 'fd00::1', port: 80, slowstartMs: 0, shutdownSessionsOnDown: false }),
    'add server be/s [fd00::1]:80',
    'IPv6 in brackets; slowstart 0 = none',
  );
  t.throws(() => cmd.addServer('be', 's', { address: '10.0.0.1', port: 80, agentSend: 'a/b' }), /need agentPort/);
  t.throws(() => cmd.addServer('be', 's', { address: 'node-a.example', port: 80 }), /not an IP address/);
  t.throws(() => cmd.addServer('be', 's', { address: '10.0.0.1', port: 0 }), /port 0/);
  t.throws(() => cmd.addServer('be', 's', { address: '10.0.0.1', port: 80, weight: 257 }), /weight 257/);
  t.throws(
    () => cmd.addServer('be', 's', { address: '10.0.0.1', port: 80, agentPort: 9300, agentSend: 'a/b\\n' }),
    /agent-send/,
  );
});

t.test('the other commands', async (t) => {
  t.equal(cmd.delServer('be', 's'), 'del server be/s');
  t.equal(cmd.setServerAddr('be', 's', '::1', 8080), 'set server be/s addr ::1 port 8080');
  t.equal(cmd.setServerAddr('be', 's', '10.0.0.2', 8080), 'set server be/s addr 10.0.0.2 port 8080');
  t.equal(cmd.setAgentAddr('be', 's', '::1'), 'set server be/s agent-addr ::1');
  t.equal(cmd.setAgentPort('be', 's', 9301), 'set server be/s agent-port 9301');
  t.equal(cmd.setAgentSend('be', 's', 'ns/name'), 'set server be/s agent-send ns/name');
  t.equal(cmd.setWeight('be', 's', 0), 'set server be/s weight 0');
  t.equal(cmd.enableAgent('be', 's'), 'enable agent be/s');
  t.equal(cmd.disableAgent('be', 's'), 'disable agent be/s');
  t.equal(cmd.enableHealth('be', 's'), 'enable health be/s');
  t.equal(cmd.disableHealth('be', 's'), 'disable health be/s');
  for (const state of ['ready', 'drain', 'maint'] as const)
    t.equal(cmd.setServerState('be', 's', state), `set server be/s state ${state}`);
  t.throws(() => cmd.setServerState('be', 's', 'up' as cmd.ServerState), /bad server state/);
  t.equal(cmd.showServersState(), 'show servers state');
  t.equal(cmd.showServersState('be'), 'show servers state be');
});

t.test('names from tenants cannot smuggle words or commands', async (t) => {
  for (const bad of ['', 'a b', 'a;b', 'a\nb', 'a/b', 'é', 'a"b'])
    t.throws(() => cmd.delServer(bad, 's'), /is not an HAProxy name/, JSON.stringify(bad));
  t.throws(() => cmd.enableAgent('be', 's;shutdown'), /is not an HAProxy name/);
  t.throws(() => cmd.showServersState('be x'), /is not an HAProxy name/);
  t.ok(cmd.isHaproxyName('shop.example.com_api:2-x'));
  t.notOk(cmd.isHaproxyName('a b'));
});

t.test('commandFailed: the replies 2.6.12 gave', async (t) => {
  const ok = [
    'New server registered.\n\n',
    'Server deleted.\n',
    '\n',
    '',
    "IP changed from '127.0.0.1' to '127.0.0.2', port changed from '18083' to '18092' by 'stats socket command'\n\n",
    "no need to change the addr, port changed from '18084' to '18090' by 'stats socket command'\n\n",
    "no need to change the addr by 'stats socket command'\n\n",
    '1\n# be_id be_name srv_id srv_name srv_addr\n\n',
  ];
  const failed = [
    'Already exists a server with the same name in backend.\n\n',
    'No such backend.\n',
    "unknown keyword 'bogus'.\n\n",
    'No such server.\n',
    'agent checks are not enabled on this server\n',
    'Agent was not configured on this server, cannot enable.\n\n',
    'Health check was not configured on this server, cannot enable.\n\n',
    "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n",
    'Only servers in maintenance mode can be deleted.\n',
    'Server still has connections attached to it, cannot remove it.\n',
    'provided port is not an integer\n',
    "Can't find backend.\n\n",
    'Unknown command, but maybe one of the following ones is a better match:\n',
  ];
  for (const r of ok) t.equal(cmd.commandFailed(r), false, JSON.stringify(r));
  for (const r of failed) t.equal(cmd.commandFailed(r), true, JSON.stringify(r));
});

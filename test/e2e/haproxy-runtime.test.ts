// The HAProxy I/O layer against a real master-worker HAProxy 2.6: runtime API commands, show stat,
// show servers state rewritten into the state file, and reloads (good and broken) via the master CLI.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { cliCommand, cliCommands } from '../../src/haproxy/cli-socket.js';
import { reloadAndWait, showProc } from '../../src/haproxy/master-cli.js';
import * as cmd from '../../src/haproxy/server-commands.js';
import { ADMIN_FORCED_DRAIN, parseServersState, rewriteServersState } from '../../src/haproxy/servers-state.js';
import { parseShowStat, type StatRow } from '../../src/haproxy/show-stat.js';
import { deadline } from '../lib/deadline.js';
import { requireHaproxy } from '../lib/haproxy.js';
import { mainCfgFor, startMasterWorker } from '../lib/haproxy-master.js';
import { tempDir } from '../lib/spawn.js';
import { until } from '../lib/until.js';

/** A TCP listener on loopback that answers every connection with `reply` (or just accepts). */
async function listener(reply?: string): Promise<{ port: number; server: Server }> {
  const server = createServer((s) => {
    s.on('error', () => {});
    if (reply !== undefined) s.end(reply);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return { port: addr.port, server };
}

if (requireHaproxy(t) !== undefined) {
  const agent = await listener('ready up 100%\n');
  const web = await listener();
  const web2 = await listener();

  const dir = tempDir(t, 'hna-haproxy-');
  const outCfg = join(dir, 'out.cfg');
  const goodCfg = `backend be
  balance roundrobin
  server s1 127.0.0.1:${web.port} weight 100
`;
  writeFileSync(outCfg, goodCfg);
  const hp = await startMasterWorker(t, {
    dir,
    mainCfg: (p) => mainCfgFor({ statsSocket: p.statsSocket, stateFile: p.stateFile, hardStopAfter: '5s' }),
    outCfg,
  });

  const stats = async (): Promise<StatRow[]> => parseShowStat(await cliCommand(hp.statsSocket, 'show stat'));
  const row = (rows: StatRow[], server: string): StatRow | undefined =>
    rows.find((r) => r.proxy === 'be' && r.server === server);
  const WAIT = deadline(10_000);

  t.test('add server, then enable agent and health: UP in show stat, agent heard', async (t) => {
    const add = cmd.addServer('be', 'n1', {
      address: '127.0.0.1',
      port: web.port,
      check: true,
      checkInterMs: 100,
      agentAddress: '127.0.0.1',
      agentPort: agent.port,
      agentInterMs: 100,
      agentSend: 'shop/web',
      weight: 100,
      slowstartMs: 0,
      shutdownSessionsOnDown: true,
    });
    const replies = await cliCommands(hp.statsSocket, [add, cmd.enableAgent('be', 'n1'), cmd.enableHealth('be', 'n1')]);
    t.same(
      replies.map((r) => r.trim()),
      ['New server registered.', '', ''],
    );
    t.same(
      replies.map((r) => cmd.commandFailed(r)),
      [false, false, false],
    );
    // No `set server … state ready`: the agent's `ready` takes the new server out of MAINT.
    const up = await until(
      'n1 UP, heard from its agent',
      stats,
      (rows) => row(rows, 'n1')?.status === 'UP' && row(rows, 'n1')?.lastAgent === 'via agent : up',
      WAIT,
      20,
    );
    t.match(row(up, 'n1'), {
      weight: 100,
      checkStatus: 'L4OK',
      agentStatus: /^(L7OK|CHECKED)$/,
      address: `127.0.0.1:${web.port}`,
    });

    // The same name again, a missing backend, an unknown keyword: failures in words.
    const bad = await cliCommands(hp.statsSocket, [add, add.replace('be/n1', 'nobe/n1'), `${add} bogus`]);
    t.same(
      bad.map((r) => cmd.commandFailed(r)),
      [true, true, true],
      bad.join('|'),
    );
  });

  t.test('IPv6 addresses: bracketed in add server, bare in set server addr', async (t) => {
    const [add, set] = await cliCommands(hp.statsSocket, [
      cmd.addServer('be', 'v6', { address: '::1', port: 18081, weight: 100 }),
      cmd.setServerAddr('be', 'v6', '::1', 18082),
    ]);
    t.equal(add?.trim(), 'New server registered.');
    t.equal(cmd.commandFailed(set ?? ''), false, set ?? '');
    t.equal(row(await stats(), 'v6')?.address, '[::1]:18082');
    t.equal((await cliCommand(hp.statsSocket, cmd.delServer('be', 'v6'))).trim(), 'Server deleted.');
  });

  t.test('del server: refused while the agent is on, done after disable agent + maint', async (t) => {
    t.equal(cmd.commandFailed(await cliCommand(hp.statsSocket, cmd.delServer('be', 'n1'))), true);
    const replies = await cliCommands(hp.statsSocket, [
      cmd.disableAgent('be', 'n1'),
      cmd.disableHealth('be', 'n1'),
      cmd.setServerState('be', 'n1', 'maint'),
      cmd.delServer('be', 'n1'),
    ]);
    t.same(
      replies.map((r) => r.trim()),
      ['', '', '', 'Server deleted.'],
    );
    t.equal(row(await stats(), 'n1'), undefined);
  });

  t.test('reloadAndWait: the reload counter rises and a new worker serves', async (t) => {
    const r = await reloadAndWait(hp.masterSocket, { timeoutMs: WAIT });
    t.ok(r.ok, r.detail);
    t.equal(r.after.reloads, r.before.reloads + 1);
    t.equal(r.after.failedReloads, 0);
    const oldPid = r.before.workers.find((w) => w.current)?.pid;
    t.not(r.after.workers.find((w) => w.current)?.pid, oldPid);
    await until('stats socket answers after the reload', stats, (rows) => row(rows, 's1') !== undefined, WAIT, 20);
  });

  t.test('a broken fragment: not ok, failed counter up, the old worker keeps serving', async (t) => {
    writeFileSync(outCfg, `${goodCfg}backend broken\n  server x\n`);
    const r = await reloadAndWait(hp.masterSocket, { timeoutMs: WAIT });
    writeFileSync(outCfg, goodCfg);
    t.notOk(r.ok, r.detail);
    t.equal(r.after.failedReloads, r.before.failedReloads + 1);
    t.same(
      r.after.workers.filter((w) => w.current).map((w) => w.pid),
      r.before.workers.filter((w) => w.current).map((w) => w.pid),
      'same worker',
    );
    t.match(row(await stats(), 's1'), { status: 'no check' }, 'show stat still answers');
    t.match(hp.output.join('\n'), /Loading failure!/);
    // The next good reload succeeds and resets the failed counter.
    const again = await reloadAndWait(hp.masterSocket, { timeoutMs: WAIT });
    t.ok(again.ok, again.detail);
    t.equal(again.after.failedReloads, 0);
  });

  t.test('a rewritten state file keeps DRAIN and gives the new port across a reload', async (t) => {
    await until('s1 in show stat', stats, (rows) => row(rows, 's1') !== undefined, WAIT, 20);
    t.equal((await cliCommand(hp.statsSocket, cmd.setServerState('be', 's1', 'drain'))).trim(), '');
    const state = await cliCommand(hp.statsSocket, cmd.showServersState());
    const s1 = parseServersState(state).rows.find((r) => r.server === 's1');
    t.equal(s1?.adminState, ADMIN_FORCED_DRAIN);
    t.equal(s1?.port, web.port);
    writeFileSync(
      hp.stateFile,
      rewriteServersState(state, (be, srv) =>
        be === 'be' && srv === 's1' ? { address: '127.0.0.1', port: web2.port } : undefined,
      ),
    );
    const r = await reloadAndWait(hp.masterSocket, { timeoutMs: WAIT });
    t.ok(r.ok, r.detail);
    // The config still says web.port; the state file wins.
    const after = await until(
      's1 reloaded',
      async () => parseServersState(await cliCommand(hp.statsSocket, cmd.showServersState('be'))).rows,
      (rows) => rows.some((x) => x.server === 's1' && x.port === web2.port),
      WAIT,
      20,
    );
    t.equal(after.find((x) => x.server === 's1')?.adminState, ADMIN_FORCED_DRAIN);
    t.match(row(await stats(), 's1'), { status: 'DRAIN', address: `127.0.0.1:${web2.port}` });
  });

  t.test('the master socket in prompt mode, and show proc', async (t) => {
    const [version, proc] = await cliCommands(hp.masterSocket, ['show version', 'show proc']);
    t.match(version, /^2\.6\./);
    t.equal((await showProc(hp.masterSocket)).masterPid, hp.pid);
    t.match(proc, /^#<PID>/);
  });
}

// The parsers of src/haproxy/ on text captured from HAProxy 2.6.12 (test/fixtures/haproxy/).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseShowProc } from '../../src/haproxy/master-cli.js';
import {
  ADMIN_FORCED_DRAIN,
  ADMIN_FORCED_MAINT,
  parseServersState,
  rewriteServersState,
} from '../../src/haproxy/servers-state.js';
import { parseShowStat, parseShowStatRows } from '../../src/haproxy/show-stat.js';

const fixture = (name: string): string =>
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'haproxy', name), 'utf8');

t.test('show proc: the master counters, current and old workers', async (t) => {
  t.same(parseShowProc(fixture('show-proc.txt')), {
    masterPid: 4978,
    reloads: 4,
    failedReloads: 0,
    workers: [{ pid: 5809, reloads: 0, uptime: '0d00h00m14s', current: true }],
    version: '2.6.12-1+deb12u4',
  });
  t.same(parseShowProc(fixture('show-proc-old-workers.txt')).workers, [
    { pid: 5809, reloads: 0, uptime: '0d00h00m01s', current: true },
    { pid: 5769, reloads: 2, uptime: '0d00h00m07s', current: false },
  ]);
  // After a failed reload the serving worker counts it too, and stays under "# workers".
  t.match(parseShowProc(fixture('show-proc-failed.txt')), {
    reloads: 5,
    failedReloads: 1,
    workers: [{ pid: 5809, reloads: 1, current: true }],
  });
  t.match(parseShowProc('#<PID> <type>\n12 master 3 0d00h00m01s\n'), { masterPid: 12, reloads: 3, failedReloads: 0 });
  t.throws(() => parseShowProc('Unknown command.\n'), /not "show proc" output/);
});

t.test('show stat: server rows by header name; every row with its kind', async (t) => {
  const csv = fixture('show-stat.txt');
  const servers = parseShowStat(csv);
  t.same(
    servers.map(({ raw: _raw, ...r }) => r),
    [
      {
        kind: 'server',
        proxy: 'be',
        server: 's1',
        status: 'DRAIN',
        weight: 100,
        scur: 0,
        checkStatus: '',
        agentStatus: '',
        lastAgent: '',
        address: '127.0.0.1:18081',
      },
      {
        ...{ kind: 'server', proxy: 'be', server: 's2', status: 'MAINT', weight: 100, scur: 0 },
        ...blank('[::1]:18082'),
      },
      // Added with weight 100, still in MAINT: show stat says 1 until it leaves MAINT.
      {
        ...{ kind: 'server', proxy: 'be', server: 'n1', status: 'MAINT', weight: 1, scur: 0 },
        ...blank('[::1]:18086'),
      },
    ],
  );
  t.same(
    parseShowStatRows(csv).map((r) => `${r.kind}:${r.proxy}/${r.server}`),
    ['frontend:fe/FRONTEND', 'server:be/s1', 'server:be/s2', 'server:be/n1', 'backend:be/BACKEND'],
  );
  // Columns found by name: moved, missing, quoted.
  const moved = parseShowStat('# svname,pxname,status,check_desc\nweb1,be,UP,"a, ""b"""\nBACKEND,be,UP,\n');
  t.match(moved, [{ proxy: 'be', server: 'web1', status: 'UP', address: '', raw: { check_desc: 'a, "b"' } }]);
  t.ok(Number.isNaN(moved[0]?.weight));
  t.throws(() => parseShowStat('Unknown command\n'), /not "show stat" output/);
});

function blank(address: string): Record<string, string> {
  return { checkStatus: '', agentStatus: '', lastAgent: '', address };
}

t.test('show servers state: rows by header name', async (t) => {
  const { header, rows } = parseServersState(fixture('show-servers-state.txt'));
  t.equal(header[0], 'be_id');
  t.equal(header.length, 25);
  t.same(
    rows.map(({ fields: _f, ...r }) => r),
    [
      { backend: 'be', server: 's1', address: '127.0.0.1', port: 18081, opState: 2, adminState: ADMIN_FORCED_DRAIN },
      { backend: 'be', server: 's2', address: '::1', port: 18082, opState: 0, adminState: ADMIN_FORCED_MAINT },
      { backend: 'be', server: 'n1', address: '::1', port: 18086, opState: 0, adminState: ADMIN_FORCED_MAINT },
    ],
  );
  t.equal(rows[0]?.fields.length, 25);
  t.throws(() => parseServersState('No such backend.\n'), /version line/);
  t.throws(() => parseServersState('1\nbogus\n'), /no "# be_id/);
  t.throws(() => parseServersState('1\n# be_id be_name\n'), /no srv_name column/);
});

t.test('rewriteServersState: rewrite address and port, drop, keep', async (t) => {
  const text = fixture('show-servers-state.txt');
  const out = rewriteServersState(text, (be, srv) =>
    srv === 's1' ? { address: '10.0.0.9', port: 30080 } : srv === 's2' ? 'drop' : be === 'be' ? undefined : 'drop',
  );
  const lines = out.split('\n');
  t.equal(lines[0], '1');
  t.equal(lines[1], text.split('\n')[1], 'header kept');
  t.equal(lines[2], '3 be 1 s1 10.0.0.9 2 8 100 100 0 1 0 2 0 0 0 0 - 30080 - 0 0 - - 0', 'DRAIN (8) kept');
  t.equal(lines[3], text.split('\n')[4], 'n1 as it was');
  t.equal(out.split('\n').length, text.split('\n').length - 1, 's2 dropped, trailing blank line kept');
  t.same(
    parseServersState(out).rows.map((r) => [r.server, r.address, r.port]),
    [
      ['s1', '10.0.0.9', 30080],
      ['n1', '::1', 18086],
    ],
  );
  t.equal(
    rewriteServersState(text, () => undefined),
    text,
    'unchanged when nothing changes',
  );
  t.throws(() => rewriteServersState(text, () => ({ address: 'a b', port: 1 })), /bad address/);
  t.throws(() => rewriteServersState(text, () => ({ address: '::1', port: 70_000 })), /bad port/);
});

// sync's flags (src/sync/config.ts loadSyncConfig) and its start-up look at HAProxy
// (src/sync/preflight.ts): main.cfg's needs, and the stats and master sockets answered by tiny
// in-process UNIX socket servers.
import t, { type Test } from 'tap';
import { createServer, type Socket } from 'node:net';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlagError } from '../../src/platform/flags.js';
import { loadSyncConfig, SYNC_FLAGS } from '../../src/sync/config.js';
import { MAIN_CFG_NEEDS, preflight } from '../../src/sync/preflight.js';
import { tempDir } from '../lib/spawn.js';

const REQUIRED = ['--out', '/x/k8s.cfg', '--haproxy-socket', '/run/a.sock', '--master-socket', '/run/m.sock'];
const ALL = [...REQUIRED, '--state-file', '/var/lib/haproxy/state'];

t.test('loadSyncConfig: defaults, and the flags given', async (t) => {
  const cfg = loadSyncConfig(ALL, {});
  if (cfg === 'help') throw new Error('help');
  t.match(cfg, {
    out: '/x/k8s.cfg',
    haproxySocket: '/run/a.sock',
    masterSocket: '/run/m.sock',
    stateFile: '/var/lib/haproxy/state',
    nodesPerService: 6,
    maxRemovalFraction: 0.5,
    allowRemoval: false,
    removalHoldMs: 600_000,
    replaceAfterMs: 300_000,
    minReloadIntervalMs: 10_000,
    debounceMs: 200,
    dryRun: false,
    httpAddress: '127.0.0.1',
    httpPort: 9292,
  });
  t.equal(loadSyncConfig(['--help'], {}), 'help');
  const env = loadSyncConfig(ALL, {
    HAPROXY_NODE_AGENT_SYNC_MAX_REMOVAL_FRACTION: '0.2',
    HAPROXY_NODE_AGENT_SYNC_REPLACE_AFTER: '0',
  });
  t.match(env, { maxRemovalFraction: 0.2, replaceAfterMs: 0 }, "environment variables, sync's own prefix");
  t.match(loadSyncConfig([...ALL, '--allow-removal', '--max-removal-fraction', '1'], {}), {
    allowRemoval: true,
    maxRemovalFraction: 1,
  });
});

t.test('loadSyncConfig: required flags, each named; --dry-run needs only --out', async (t) => {
  t.throws(() => loadSyncConfig([], {}), new FlagError('out', 'is required: the fragment file HAProxy loads with -f'));
  const why = 'is required (or pass --dry-run to only print what would change)';
  t.throws(() => loadSyncConfig(['--out', '/x'], {}), new FlagError('haproxy-socket', why));
  t.throws(() => loadSyncConfig(['--out', '/x', '--haproxy-socket', '/s'], {}), new FlagError('master-socket', why));
  t.throws(() => loadSyncConfig(REQUIRED, {}), new FlagError('state-file', why));
  t.match(loadSyncConfig(['--out', '/x', '--dry-run'], {}), { dryRun: true, haproxySocket: '', stateFile: '' });
  t.throws(() => loadSyncConfig(['--dry-run'], {}), FlagError, '--dry-run still needs --out');
});

t.test('loadSyncConfig: a bad value is one FlagError line naming the flag', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--max-removal-fraction', '0'], /^--max-removal-fraction: expected a fraction greater than 0 and at most 1/],
    [['--max-removal-fraction', '1.5'], /^--max-removal-fraction: /],
    [['--replace-after', 'soon'], /^--replace-after: expected a duration/],
    [['--min-reload-interval', '1ms'], /^--min-reload-interval: /],
    [['--debounce', '2h'], /^--debounce: /],
    [['--nodes-per-service', '0'], /^--nodes-per-service: must be 1\.\.1000/],
    [['--http-port', '70000'], /^--http-port: /],
    [['--bind', ':80 # x'], /^--bind: expected bind arguments/],
    [['--allow-removal=maybe'], /^--allow-removal: /],
    [['--max-removal-fracton', '0.5'], /^--max-removal-fracton: unknown flag; did you mean --max-removal-fraction\?$/],
  ];
  for (const [argv, re] of cases) {
    let err: unknown;
    try {
      loadSyncConfig([...ALL, ...argv], {});
    } catch (e) {
      err = e;
    }
    t.type(err, FlagError, argv.join(' '));
    t.match((err as Error).message, re, argv.join(' '));
    t.notMatch((err as Error).message, /\n/, 'one line');
  }
  t.throws(
    () => loadSyncConfig(ALL, { HAPROXY_NODE_AGENT_SYNC_MAX_REMOVAL_FRACTION: '7' }),
    /^--max-removal-fraction: /,
    'a bad environment value names the flag too',
  );
});

t.test('the removal guard flags are the shared rows: same names, defaults and bounds as render', async (t) => {
  const { RENDER_FLAGS } = await import('../../src/render/cli.js');
  for (const name of ['max-removal-fraction', 'allow-removal']) {
    const s = SYNC_FLAGS.find((f) => f.name === name);
    const r = RENDER_FLAGS.find((f) => f.name === name);
    t.equal(r?.default, s?.default, `${name} default`);
    t.equal(r !== undefined && 'env' in r, false, `render reads no environment for ${name}`);
  }
});

// ---- MAIN_CFG_NEEDS ----

/** The main.cfg the e2e tests run HAProxy with (test/lib/haproxy-master.ts mainCfgFor), inline: the
 * unit tier does not load the harness. */
function mainCfgFor(o: { statsSocket: string; stateFile: string; hardStopAfter: string }): string {
  return [
    'global',
    '  master-worker',
    `  stats socket ${o.statsSocket} mode 600 level admin`,
    `  server-state-file ${o.stateFile}`,
    `  hard-stop-after ${o.hardStopAfter}`,
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  load-server-state-from-file global',
    '',
  ].join('\n');
}

const missing = (text: string) => MAIN_CFG_NEEDS.filter((n) => !n.pattern.test(text)).map((n) => n.what);

t.test("MAIN_CFG_NEEDS: the e2e tests' main.cfg passes; a bare one lacks all four", async (t) => {
  const good = mainCfgFor({
    statsSocket: '/run/haproxy/admin.sock',
    stateFile: '/var/lib/haproxy/state',
    hardStopAfter: '1h',
  });
  t.same(missing(good), []);
  const bad = [
    'global',
    '  stats socket /run/haproxy/admin.sock mode 660 level user',
    '  # server-state-file /var/lib/haproxy/state',
    'defaults',
    '  mode http',
    '  load-server-state-from-file local',
    '',
  ].join('\n');
  t.same(missing(bad), [
    'a "stats socket PATH level admin" line (global)',
    'a "server-state-file PATH" line (global)',
    'a "load-server-state-from-file global" line (defaults)',
    'a "hard-stop-after" line (global), bounding old workers',
  ]);
  t.same(
    missing('global\n  stats socket ipv4@127.0.0.1:9999 level admin expose-fd listeners\n'),
    missing('x').slice(1),
    'any address form',
  );
});

// ---- preflight against in-process sockets ----

/** A UNIX socket answering each command (HAProxy's stats and master CLI close after the reply). */
async function fakeSocket(t: Test, path: string, answer: (cmd: string) => string): Promise<void> {
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    let req = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => (req += c));
    sock.on('error', () => {});
    sock.on('end', () => sock.end(answer(req.trim())));
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => {
    for (const s of open) s.destroy();
    return new Promise((r) => server.close(r));
  });
}

const SHOW_PROC = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'haproxy', 'show-proc.txt'), 'utf8');

async function edge(t: Test, level: string) {
  const dir = tempDir(t, 'hna-preflight-');
  const haproxySocket = join(dir, 'admin.sock');
  const masterSocket = join(dir, 'master.sock');
  await fakeSocket(t, haproxySocket, (cmd) => (cmd === 'show cli level' ? `${level}\n` : 'Unknown command.\n'));
  await fakeSocket(t, masterSocket, (cmd) => (cmd === 'show proc' ? SHOW_PROC : 'Unknown command.\n'));
  const haproxyConfig = join(dir, 'main.cfg');
  const stateFile = join(dir, 'server-state');
  writeFileSync(haproxyConfig, mainCfgFor({ statsSocket: haproxySocket, stateFile, hardStopAfter: '1h' }));
  return { dir, haproxySocket, masterSocket, stateFile, haproxyConfig };
}

t.test('preflight: an admin socket, a master CLI, a writable state dir and a good main.cfg: no warning', async (t) => {
  t.same(await preflight(await edge(t, 'admin')), []);
});

t.test('preflight: a stats socket at level user is named, with what it breaks', async (t) => {
  const e = await edge(t, 'user');
  t.same(await preflight(e), [
    `stats socket ${e.haproxySocket} is at level "user", not admin: add/del server will be refused`,
  ]);
});

t.test('preflight: nothing answering, an unwritable state dir, a main.cfg lacking lines', async (t) => {
  const dir = tempDir(t, 'hna-preflight-');
  const ro = join(dir, 'ro');
  mkdirSync(ro);
  chmodSync(ro, 0o500);
  t.teardown(() => chmodSync(ro, 0o700));
  const cfg = join(dir, 'main.cfg');
  writeFileSync(cfg, 'global\n  stats socket /x level admin\n  server-state-file /y\n  hard-stop-after 1h\n');
  const p = {
    haproxySocket: join(dir, 'none.sock'),
    masterSocket: join(dir, 'none-master.sock'),
    stateFile: join(ro, 'state'),
    haproxyConfig: cfg,
  };
  const problems = await preflight(p);
  t.match(problems[0], new RegExp(`^stats socket ${p.haproxySocket} does not answer yet \\(.*ENOENT.*\\); retrying$`));
  t.match(
    problems[1],
    /^master CLI .* does not answer yet \(.*\): start HAProxy in master-worker mode with -W -S PATH/,
  );
  // root writes anywhere: only then is the directory check silent.
  const root = process.getuid?.() === 0;
  const rest = problems.slice(2);
  t.same(rest, [
    ...(root
      ? []
      : [`state file ${p.stateFile}: its directory is not writable, so drains would blink UP across reloads`]),
    `${cfg} lacks a "load-server-state-from-file global" line (defaults)`,
  ]);
  t.match(await preflight({ ...p, haproxyConfig: join(dir, 'missing.cfg') }), [
    String,
    String,
    ...(root ? [] : [String]),
    /^cannot read --haproxy-config .*missing\.cfg: /,
  ]);
});

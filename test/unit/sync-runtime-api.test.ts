// sync's side of the stats socket (src/sync/runtime.ts RuntimeApi) against an in-process UNIX
// socket that answers with 2.6.12's captured text: what runs, sessions per server, and one
// operation's commands in prompt mode with its verdict and count.
import t, { type Test } from 'tap';
import { createServer, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeApi, type Op } from '../../src/sync/runtime.js';
import { tempDir } from '../lib/spawn.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '..', 'fixtures', 'haproxy', name), 'utf8');

/**
 * A stats socket: one command per connection answered by `answer`, or prompt mode (prompt, the
 * commands, quit) answered as HAProxy does, each reply after a "\n> " prompt.
 */
async function statsSocket(t: Test, answer: (cmd: string) => string): Promise<{ path: string; seen: string[] }> {
  const path = join(tempDir(t, 'hna-runtime-'), 'admin.sock');
  const seen: string[] = [];
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    let req = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => (req += c));
    sock.on('error', () => {});
    sock.on('end', () => {
      const lines = req.split('\n').filter((l) => l !== '');
      if (lines[0] !== 'prompt') {
        seen.push(lines[0] ?? '');
        return void sock.end(answer(lines[0] ?? ''));
      }
      const cmds = lines.slice(1, lines.at(-1) === 'quit' ? -1 : undefined);
      seen.push(...cmds);
      sock.end(`\n> ${cmds.map((c) => answer(c).replace(/\n$/, '')).join('\n> ')}\n> `);
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => {
    for (const s of open) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return { path, seen };
}

const settings = { agentPort: 9300, agentInterMs: 2000, slowstartMs: 0, shutdownSessionsOnDown: false };

t.test('serversState: the text for the state file, and the servers by backend', async (t) => {
  const s = await statsSocket(t, (cmd) => (cmd === 'show servers state' ? fixture('show-servers-state.txt') : '?\n'));
  const api = new RuntimeApi(s.path, 2000, () => {});
  const { text, running } = await api.serversState();
  t.equal(text, fixture('show-servers-state.txt'));
  t.same([...running.keys()], ['be']);
  t.same(Object.fromEntries(running.get('be')!), {
    s1: { address: '127.0.0.1', port: 18081 },
    s2: { address: '::1', port: 18082 },
    n1: { address: '::1', port: 18086 },
  });
});

t.test('sessions and statRows: server rows of show stat', async (t) => {
  const s = await statsSocket(t, (cmd) => (cmd === 'show stat' ? fixture('show-stat.txt') : '?\n'));
  const api = new RuntimeApi(s.path, 2000, () => {});
  const rows = await api.statRows();
  t.same(
    rows.map((r) => `${r.proxy}/${r.server} ${r.status}`),
    ['be/s1 DRAIN', 'be/s2 MAINT', 'be/n1 MAINT'],
  );
  t.same(
    await api.sessions(),
    new Map([
      ['be\0s1', 0],
      ['be\0s2', 0],
      ['be\0n1', 0],
    ]),
  );
});

t.test("run: the operation's commands on one connection; the first refusal is the detail; each counted", async (t) => {
  const counted: Array<[Op, boolean]> = [];
  let refuse = '';
  const s = await statsSocket(t, (cmd) => {
    if (refuse !== '' && cmd.startsWith(refuse)) return 'No such server.\n';
    if (cmd.startsWith('add server')) return 'New server registered.\n';
    if (cmd.startsWith('del server')) return 'Server deleted.\n';
    return '\n';
  });
  const api = new RuntimeApi(s.path, 2000, (op, ok) => void counted.push([op, ok]));
  const d = { backend: 'be', name: 'n2', address: '10.0.0.2', port: 30080, key: 'ns/web', cluster: 'c', node: 'n2' };
  const add = await api.run('add', d, settings);
  t.same(add, {
    ok: true,
    commands: [
      'add server be/n2 10.0.0.2:30080 weight 100 check agent-check agent-port 9300 agent-addr 10.0.0.2 ' +
        'agent-inter 2000ms agent-send ns/web',
      'enable agent be/n2',
      'enable health be/n2',
    ],
    detail: '',
  });
  t.same(s.seen, add.commands, 'sent as listed, nothing else');
  t.ok((await api.run('delete', { backend: 'be', name: 'n2' }, settings)).ok);
  refuse = 'disable health';
  const drain = await api.run('drain', { backend: 'be', name: 'n2' }, settings);
  t.same(drain, {
    ok: false,
    commands: ['disable agent be/n2', 'disable health be/n2', 'set server be/n2 state drain'],
    detail: 'disable health be/n2: No such server.',
  });
  t.same(counted, [
    ['add', true],
    ['delete', true],
    ['drain', false],
  ]);
});

t.test('no socket: serversState rejects with the path and the cause', async (t) => {
  const api = new RuntimeApi(join(tempDir(t, 'hna-runtime-'), 'none.sock'), 2000, () => {});
  await t.rejects(api.serversState(), /none\.sock: no such socket \(ENOENT/);
});

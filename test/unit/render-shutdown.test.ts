// render --shutdown-sessions-on-down: every server line gets on-marked-down shutdown-sessions, so
// a down answer (the daemon's --drain-deadline) closes the connections a drain leaves open.
import t from 'tap';
import { join } from 'node:path';
import { runRender } from '../../src/render/cli.js';

const snapshot = join(import.meta.dirname, '..', 'fixtures', 'render', 'snapshot.yaml');

async function render(extra: string[]): Promise<string> {
  let out = '';
  const code = await runRender(['--snapshot', snapshot, ...extra], {
    stdout: (s) => void (out += s),
    stderr: () => {},
    env: {},
  });
  t.equal(code, 0);
  return out;
}

t.test('off by default, on every server with the flag', async (t) => {
  const plain = await render([]);
  t.notMatch(plain, 'on-marked-down');
  const on = await render(['--shutdown-sessions-on-down']);
  const servers = on.split('\n').filter((l) => l.trim().startsWith('server '));
  t.ok(servers.length > 0);
  for (const s of servers) t.match(s, / on-marked-down shutdown-sessions$/, s.trim().split(' ')[1] ?? '');
});

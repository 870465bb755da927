// reloadAndWait's verdicts against an in-process master socket that answers `show proc` with
// 2.6.12's text (the real master-worker HAProxy: test/e2e/haproxy-runtime.test.ts).
import t, { type Test } from 'tap';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { reloadAndWait } from '../../src/haproxy/master-cli.js';
import { tempDir } from '../lib/spawn.js';

const proc = (reloads: number, failed: number, worker: number, old?: number): string =>
  '#<PID>          <type>          <reloads>       <uptime>        <version>      \n' +
  `100             master          ${reloads} [failed: ${failed}]   0d00h00m05s     2.6.12-1+deb12u4\n` +
  `# workers\n${worker}             worker          0               0d00h00m01s     2.6.12-1+deb12u4\n` +
  (old === undefined ? '' : `# old workers\n${old}             worker          1               0d00h00m05s     x\n`) +
  '# programs\n\n';

/** A master socket: `show proc` answered by `state()`, `reload` counted and answered with nothing. */
async function fakeMaster(t: Test, state: (reloadsSeen: number) => string): Promise<{ path: string }> {
  const path = join(tempDir(t), 'master.sock');
  let reloads = 0;
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    open.add(sock);
    sock.on('close', () => open.delete(sock));
    let req = '';
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => (req += c));
    sock.on('error', () => {});
    sock.on('end', () => {
      if (req === 'reload\n') {
        reloads++;
        sock.destroy(); // the master re-execs: the connection just drops
      } else sock.end(state(reloads));
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => {
    for (const s of open) s.destroy();
    return new Promise((r) => server.close(r));
  });
  return { path };
}

t.test('ok: the counter rose and a new current worker is listed', async (t) => {
  const m = await fakeMaster(t, (n) => (n === 0 ? proc(0, 0, 200) : proc(1, 0, 201, 200)));
  const r = await reloadAndWait(m.path, { timeoutMs: 5000, pollMs: 5 });
  t.ok(r.ok, r.detail);
  t.match(r, { before: { reloads: 0 }, after: { reloads: 1, failedReloads: 0 } });
  t.match(r.detail, /reloads 0 → 1.*new worker 201/);
});

t.test('not ok: the failed counter rose, the old worker keeps serving', async (t) => {
  const m = await fakeMaster(t, (n) => (n === 0 ? proc(3, 1, 200) : proc(4, 2, 200)));
  const r = await reloadAndWait(m.path, { timeoutMs: 5000, pollMs: 5 });
  t.notOk(r.ok);
  t.match(r.detail, /reload failed \(failed reloads 1 → 2\); worker 200 keeps serving/);
});

t.test('not ok: no outcome before the deadline', async (t) => {
  const m = await fakeMaster(t, () => proc(0, 0, 200));
  const r = await reloadAndWait(m.path, { timeoutMs: 150, pollMs: 5 });
  t.notOk(r.ok);
  t.match(r.detail, /no outcome within 150ms \(reloads 0 → 0, failed 0 → 0\)/);
});

t.test('a master that is not there: show proc fails, nothing is reported as reloaded', async (t) => {
  await t.rejects(reloadAndWait(join(tempDir(t), 'none.sock'), { timeoutMs: 100, pollMs: 5 }), /ENOENT/);
});

// The daemon loads only the small pieces of @kubernetes/client-node it uses (exec_auth), never its
// generated API (~70 MB of RSS): fails if a client-node upgrade or a new import brings it back.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, startApi, seedCluster } from '../lib/agent-process.js';
import { probeUntil } from '../lib/probe.js';

const REGISTER = join(import.meta.dirname, '..', 'fixtures', 'module-log', 'register.mjs');
/** exec_auth.js today; a little room, far below the 826 modules of the whole package. */
const MAX_CLIENT_NODE_MODULES = 5;

t.test('a synced daemon has loaded no generated API and at most a handful of client-node modules', async (t) => {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const dir = mkdtempSync(join(tmpdir(), 'hna-modules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'modules.log');
  const agent = await startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig], {
    NODE_OPTIONS: `--import=${REGISTER}`,
    MODULE_LOG: log,
  });
  t.equal(
    await probeUntil(agent.agentPort, 'shop/web\n', (r) => r === 'ready up 100%\n', 15_000),
    'ready up 100%\n',
    'synced',
  );
  const urls = [
    ...new Set(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l !== ''),
    ),
  ];
  t.ok(
    urls.some((u) => u.endsWith('/dist/main.js')),
    'the hook saw the daemon load',
  );
  const ours = urls.filter((u) => u.includes('/node_modules/@kubernetes/client-node/'));
  t.same(
    ours.filter((u) =>
      /\/dist\/(gen\/|index\.js|config\.js|cache\.js|watch\.js|informer\.js|serializer\.js|api\.js)/.test(u),
    ),
    [],
    'no generated API, no KubeConfig/ListWatch/Watch modules',
  );
  t.ok(
    ours.length <= MAX_CLIENT_NODE_MODULES,
    `client-node modules loaded: ${ours.length} (${ours.map((u) => u.split('/dist/')[1]).join(', ')})`,
  );
  t.ok(
    ours.some((u) => u.endsWith('/dist/exec_auth.js')),
    'exec_auth.js is where we expect it (a moved module fails here)',
  );
});

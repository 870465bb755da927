// `haproxy-node-agent wait-drained`: poll a node agent's /drained until every load balancer has
// received the drain, for maintenance scripts: `kubectl cordon N && haproxy-node-agent
// wait-drained --node N && kubectl drain N`; with `--for ready` (/drained?for=ready), until every
// load balancer has received ready after the uncordon. Exit 0 delivered, 1 timeout (what is pending
// printed), 2 bad flags. The Kubernetes client is loaded only for --node.
import { isIP } from 'node:net';
import { duration, oneOf, port, text } from '../platform/flag-values.js';
import { decodeFlags, FlagError, type FlagRow, helpText, parseFlags } from '../platform/flags.js';
import { HELP_FLAG, HTTP_PORT_FLAG, KUBECONFIG_FLAG, withoutEnv } from '../platform/shared-flags.js';
import { isDnsSubdomain } from '../core/names.js';
import { errorMessage } from '../core/error-message.js';

export const WAIT_FLAGS = [
  {
    name: 'url',
    field: 'url',
    default: '',
    help: "The agent's HTTP address, e.g. http://10.0.0.7:9290 (or give --node)",
    ...text,
  },
  {
    name: 'node',
    field: 'node',
    default: '',
    help: 'Node name: its InternalIP (else ExternalIP) is looked up through the kubeconfig',
    ...text,
  },
  {
    ...withoutEnv(KUBECONFIG_FLAG),
    help: 'Kubeconfig for --node (default $KUBECONFIG, then ~/.kube/config, then in-cluster)',
    ...text,
  },
  { ...withoutEnv(HTTP_PORT_FLAG), help: "The agent's HTTP port, with --node", ...port(1) },
  {
    name: 'for',
    field: 'want',
    default: 'drain',
    help: 'What must reach every load balancer: drain (after a cordon) or ready (after the uncordon)',
    ...oneOf(['drain', 'ready'] as const),
  },
  {
    name: 'timeout',
    field: 'timeoutMs',
    default: '5m',
    help: 'Give up (exit 1, printing what is pending) after this long',
    ...duration({ minMs: 1, maxMs: 7 * 86_400_000 }),
  },
  {
    name: 'interval',
    field: 'intervalMs',
    default: '1s',
    help: 'How often to ask /drained',
    ...duration({ minMs: 10, maxMs: 600_000 }),
  },
  HELP_FLAG,
] as const satisfies readonly FlagRow[];

type WaitFlag = (typeof WAIT_FLAGS)[number]['name'];

const USAGE = `Usage: haproxy-node-agent wait-drained (--url http://NODE:9290 | --node NAME) [--for ready] [flags]

Waits until the node's agent says every HAProxy probing it has received its drain (GET /drained
answers 200), or with --for ready its ready answer (GET /drained?for=ready). Exits 0 then, 1 on
timeout (printing what is still pending), 2 on bad flags.`;

export interface WaitIO {
  out(text: string): void;
  err(text: string): void;
  /** Progress rewrites one line on a terminal, else prints one line per change. */
  tty: boolean;
  env: NodeJS.ProcessEnv;
}

const processIO: WaitIO = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  tty: process.stderr.isTTY === true,
  env: process.env,
};

interface Poll {
  /** Delivered: what --for asks has reached every load balancer. */
  drained: boolean;
  /** One line saying where things stand. */
  summary: string;
}

export async function runWaitDrained(argv: string[], io: WaitIO = processIO): Promise<number> {
  const raw = parseFlags<WaitFlag>(WAIT_FLAGS, argv, io.env);
  if (raw.help === 'true') {
    io.out(helpText(USAGE, WAIT_FLAGS));
    return 0;
  }
  const { url: urlFlag, node, kubeconfig, httpPort, want, timeoutMs, intervalMs } = decodeFlags(WAIT_FLAGS, raw);
  if ((urlFlag === '') === (node === ''))
    throw new FlagError(urlFlag === '' ? 'node' : 'url', 'give exactly one of --url and --node');
  const base = urlFlag !== '' ? parseUrl(urlFlag) : await nodeUrl(node, kubeconfig, httpPort, io.env);
  const url = base.pathname.replace(/\/+$/, '').endsWith('/drained')
    ? base
    : new URL(`${base.pathname.replace(/\/+$/, '')}/drained`, base);
  if (want === 'ready') url.searchParams.set('for', 'ready');
  const done = want === 'drain' ? 'drained' : 'ready delivered';

  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const p = await poll(url, want, Math.min(5000, Math.max(1, deadline - Date.now())));
    if (p.summary !== last) {
      if (io.tty) io.err(`\r\x1b[K${p.summary}`);
      else io.err(`${p.summary}\n`);
      last = p.summary;
    }
    if (p.drained) {
      if (io.tty) io.err('\n');
      io.out(`${done}: ${url.host} ${p.summary}\n`);
      return 0;
    }
    if (Date.now() + intervalMs > deadline) {
      if (io.tty) io.err('\n');
      io.out(`not ${done} after ${raw.timeout}: ${url.host} ${p.summary}\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function parseUrl(v: string): URL {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new FlagError('url', `expected a URL such as http://10.0.0.7:9290, got "${v}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new FlagError('url', `expected http:// or https://, got "${v}"`);
  return u;
}

/** The node's InternalIP (else ExternalIP) from the API, as the agent's base URL. */
async function nodeUrl(node: string, kubeconfigFlag: string, port: number, env: NodeJS.ProcessEnv): Promise<URL> {
  if (!isDnsSubdomain(node)) throw new FlagError('node', `expected a node name, got "${node}"`);
  const { kubeconfigPath, loadKubeConfig } = await import('../kube/kubeconfig.js');
  const { ApiTransport } = await import('../kube/transport.js');
  const kc = loadKubeConfig(kubeconfigPath(kubeconfigFlag, env), env);
  let doc: unknown;
  try {
    doc = await new ApiTransport(kc, 30_000, () => {}).getJson(`/api/v1/nodes/${node}`);
  } catch (err) {
    throw new FlagError('node', `cannot read node ${node}: ${errorMessage(err)}`);
  }
  const addresses =
    (doc as { status?: { addresses?: Array<{ type?: unknown; address?: unknown }> } }).status?.addresses ?? [];
  const pick = (type: string): string | undefined => {
    const a = addresses.find((x) => x.type === type && typeof x.address === 'string' && isIP(x.address) !== 0);
    return a === undefined ? undefined : String(a.address);
  };
  const ip = pick('InternalIP') ?? pick('ExternalIP');
  if (ip === undefined) throw new FlagError('node', `node ${node} has no InternalIP or ExternalIP address`);
  return new URL(`http://${isIP(ip) === 6 ? `[${ip}]` : ip}:${port}/`);
}

async function poll(url: URL, want: 'drain' | 'ready', timeoutMs: number): Promise<Poll> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    text = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { drained: false, summary: `cannot reach ${url.host}: ${e.cause?.code ?? e.message}` };
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {
      drained: false,
      summary: `HTTP ${res.status} from ${url.pathname} (not the agent's JSON; is this an older agent?)`,
    };
  }
  const answer = typeof body.answer === 'string' ? `"${body.answer}"` : 'no answer';
  if (want === 'ready' && body.for !== 'ready')
    return { drained: false, summary: `${url.host} does not answer ?for=ready (an older agent? upgrade it)` };
  if (res.status === 200 && (want === 'drain' ? body.drained : body.ready) === true)
    return { drained: true, summary: `node answers ${answer}; ${String(body.reason)} (${String(body.peers)} peer(s))` };
  const pending = Array.isArray(body.pending) ? body.pending : [];
  const who = pending
    .map((p: unknown) => {
      const x = p as {
        peer?: unknown;
        keys?: Array<{ key?: unknown; silent?: unknown }>;
        pendingKeys?: unknown;
        silentKeys?: unknown;
        neverSeen?: unknown;
        refused?: unknown;
        unrecorded?: unknown;
      };
      const keys = Array.isArray(x.keys)
        ? x.keys.map((k) => `${String(k.key)}${k.silent === true ? ' silent' : ''}`).join(',')
        : `${String(x.pendingKeys)} key(s)${typeof x.silentKeys === 'number' ? `, ${x.silentKeys} silent` : ''}`;
      const why = [
        x.neverSeen === true ? 'never probed' : '',
        x.refused !== undefined ? 'refused' : '',
        x.unrecorded !== undefined ? 'unrecorded' : '',
      ].filter((w) => w !== '');
      return `${String(x.peer)}[${keys}]${why.length === 0 ? '' : `(${why.join(',')})`}`;
    })
    .join(' ');
  return { drained: false, summary: `node answers ${answer}; ${String(body.reason)}${who === '' ? '' : `: ${who}`}` };
}

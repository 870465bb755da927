// `haproxy-node-agent render`: clusters → HAProxy configuration, once. Flags in, text out; the
// work is in source.ts (read), model.ts (choose), haproxy.ts (write), check.ts and diff.ts.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { dnsSubdomain } from '../platform/flag-values.js';
import { FlagError, type FlagSpec, helpText, parseDurationFlag, parseFlags, parseIntFlag } from '../platform/flags.js';
import { haproxyCheck } from './check.js';
import { diffServers, formatDiff } from './diff.js';
import { DEFAULT_TEMPLATE, TEMPLATE_SHAPE, renderHaproxy } from './output.js';
import { buildModel, type ClusterSnapshot } from './model.js';
// source.js (and through it the Kubernetes client, ~1 s to load) is imported only once a cluster
// or snapshot is really read: --help, --print-template and bad flags answer at once.
import { Template, TemplateError } from './template.js';

export const RENDER_FLAGS = [
  {
    name: 'kubeconfig',
    default: '',
    help: 'Kubeconfig file (default $KUBECONFIG, then ~/.kube/config, then in-cluster)',
  },
  {
    name: 'context',
    default: '',
    help:
      'Contexts to read, comma-separated, one per cluster; ALIAS=CONTEXT names the cluster ALIAS ' +
      '(default: current context)',
  },
  {
    name: 'snapshot',
    default: '',
    help: 'Read clusters from this JSON or YAML file instead of the API: {clusters: [{name, nodes, services}]}',
  },
  {
    name: 'nodes-per-service',
    default: '6',
    help: 'Nodes chosen per Service, spread across zones (all eligible nodes if fewer)',
  },
  { name: 'agent-port', default: '9300', help: "agent-port of every server: the daemon's port on each node" },
  { name: 'agent-inter', default: '2s', help: 'agent-inter of every server: how often HAProxy asks the daemon' },
  { name: 'slowstart', default: '0', help: 'slowstart of every server, e.g. 30s (0 = off)' },
  {
    name: 'shutdown-sessions-on-down',
    default: '',
    help:
      'Add "on-marked-down shutdown-sessions" to every server: ' +
      "a down answer (e.g. the daemon's --drain-deadline) closes open connections",
    boolean: true,
  },
  {
    name: 'annotation-prefix',
    default: 'haproxy-node-agent.io',
    help: 'Prefix of the annotations read (Service PREFIX/expose, PREFIX/host, ...; Node PREFIX/state)',
  },
  { name: 'bind', default: ':80', help: "Arguments of the generated frontend's bind line" },
  { name: 'template', default: '', help: 'Template file replacing the built-in one (see --print-template)' },
  { name: 'print-template', default: '', help: 'Print the built-in template and exit', boolean: true },
  { name: 'out', default: '', help: 'Write the result to this file (atomically) instead of stdout' },
  {
    name: 'check',
    default: '',
    help: 'Run "haproxy -c" on the result first; exit 1 without writing if HAProxy rejects it',
    boolean: true,
  },
  { name: 'haproxy', default: 'haproxy', help: 'HAProxy binary for --check' },
  {
    name: 'diff',
    default: '',
    help: 'Previous output to compare with: prints servers added/removed/changed/unchanged on stderr',
  },
  { name: 'request-timeout', default: '30s', help: 'Deadline for each API list request' },
  { name: 'help', default: '', help: 'Print this help and exit', boolean: true },
] as const satisfies readonly FlagSpec[];

type RenderFlag = (typeof RENDER_FLAGS)[number]['name'];

export const RENDER_USAGE = `Usage: haproxy-node-agent render [flags]

Writes an HAProxy configuration fragment for every Service annotated PREFIX/expose: "true": a
frontend routing by host and path, and one backend per host/path (or PREFIX/backend name) whose
servers are the NodePort on a stable, zone-spread subset of Ready nodes, each with an agent-check
against the haproxy-node-agent daemon on that node. Reads each cluster once (no watch).`;

export interface RenderIO {
  stdout(text: string): void | Promise<void>;
  stderr(text: string): void | Promise<void>;
  env: NodeJS.ProcessEnv;
}

const processIO: RenderIO = {
  stdout: (text) => new Promise<void>((resolve) => process.stdout.write(text, () => resolve())),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
};

const BIND = /^[^\s#'"\\]+(?: [^\s#'"\\]+)*$/;

/**
 * Runs the subcommand and returns the exit code: 0 done, 1 the API, HAProxy or a file failed.
 * Bad flags (and an unreadable snapshot or template) throw FlagError, which the caller prints on
 * one line and exits 2 for.
 */
export async function runRender(argv: string[], io: RenderIO = processIO): Promise<number> {
  const raw = parseFlags<RenderFlag>(RENDER_FLAGS, argv, io.env);
  if (raw.help === 'true') {
    await io.stdout(helpText(RENDER_USAGE, RENDER_FLAGS));
    return 0;
  }
  if (raw['print-template'] === 'true') {
    await io.stdout(DEFAULT_TEMPLATE);
    return 0;
  }
  const nodesPerService = parseIntFlag('nodes-per-service', raw['nodes-per-service'], 1, 1000);
  const settings = {
    nodesPerService,
    agentPort: parseIntFlag('agent-port', raw['agent-port'], 1, 65535),
    agentInterMs: parseDurationFlag('agent-inter', raw['agent-inter'], { minMs: 10, maxMs: 3_600_000 }),
    slowstartMs: parseDurationFlag('slowstart', raw.slowstart, { allowZero: true, maxMs: 3_600_000 }),
    bind: raw.bind.trim(),
    shutdownSessionsOnDown: raw['shutdown-sessions-on-down'] === 'true',
  };
  if (!BIND.test(settings.bind))
    throw new FlagError('bind', `expected bind arguments such as ":80" or "127.0.0.1:8080", got "${raw.bind}"`);
  const annotationPrefix = dnsSubdomain('annotation-prefix', raw['annotation-prefix']);
  const requestTimeoutMs = parseDurationFlag('request-timeout', raw['request-timeout'], { minMs: 100, maxMs: 600_000 });
  if (raw.snapshot !== '' && (raw.kubeconfig !== '' || raw.context !== '')) {
    throw new FlagError('snapshot', 'reads clusters from the file; drop --kubeconfig and --context');
  }
  const { parseContexts, readClusters, readSnapshotFile } = await import('./source.js');
  const { kubeconfigPath } = await import('../kube/kubeconfig.js');
  const contexts = parseContexts(raw.context);
  const template = raw.template === '' ? undefined : loadTemplate(raw.template);
  const previous = raw.diff === '' ? undefined : readPrevious(raw.diff);

  const kubeconfig = raw.snapshot === '' ? kubeconfigPath(raw.kubeconfig, io.env) : undefined;
  if (raw.snapshot === '' && kubeconfig === undefined && io.env.KUBERNETES_SERVICE_HOST === undefined) {
    // From an operator's host, not a Pod: say every place looked at and both ways out.
    throw new FlagError(
      'kubeconfig',
      'not set, KUBECONFIG names no file, there is no ~/.kube/config, and not running in a Pod ' +
        '(KUBERNETES_SERVICE_HOST is unset); pass --kubeconfig FILE or --snapshot FILE',
    );
  }

  let clusters: ClusterSnapshot[];
  try {
    clusters =
      raw.snapshot !== ''
        ? readSnapshotFile(raw.snapshot)
        : await readClusters(kubeconfig, contexts, io.env, requestTimeoutMs);
  } catch (err) {
    if (err instanceof FlagError) throw err;
    await io.stderr(`render: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }

  const model = buildModel(clusters, { annotationPrefix, nodesPerService });
  for (const line of warningLines(model.warnings)) await io.stderr(line);
  // Without backends and without a warning saying why, the output alone would look like success.
  if (model.backends.length === 0 && model.warnings.length === 0) {
    await io.stderr(
      `render: no Service is exposed; annotate one with ${annotationPrefix}/expose: "true" ` +
        `and ${annotationPrefix}/host (or ${annotationPrefix}/backend)\n`,
    );
  }
  const text = renderHaproxy(model, settings, template);

  if (raw.check === 'true') {
    const res = await haproxyCheck(text, raw.haproxy);
    if (!res.ok) {
      await io.stderr(
        `render: haproxy -c rejected the output${raw.out === '' ? '' : `; ${raw.out} left as it was`}:\n` +
          `${res.output}\n`,
      );
      return 1;
    }
  }
  if (previous !== undefined) {
    await io.stderr(
      `render: ${formatDiff(diffServers(previous.text, text))}` +
        `${previous.missing ? ` (${raw.diff} did not exist)` : ''}\n`,
    );
  }
  if (raw.out === '') {
    await io.stdout(text);
    return 0;
  }
  try {
    writeAtomically(raw.out, text);
  } catch (err) {
    await io.stderr(`render: cannot write ${raw.out}: ${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}

/**
 * One run, so no time window: repeats of one warning print once with a count, and past
 * MAX_WARNINGS distinct ones a single line says how many more there were. A namespace with 10,000
 * broken Services must not bury the one warning that matters.
 */
export const MAX_WARNINGS = 100;

export function warningLines(warnings: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const w of warnings) counts.set(w, (counts.get(w) ?? 0) + 1);
  const out: string[] = [];
  for (const [w, n] of counts) {
    if (out.length === MAX_WARNINGS) break;
    out.push(`render: warning: ${w}${n > 1 ? ` (${n} times)` : ''}\n`);
  }
  if (counts.size > MAX_WARNINGS)
    out.push(`render: warning: ${counts.size - MAX_WARNINGS} more warnings not shown (${warnings.length} in all)\n`);
  return out;
}

function loadTemplate(path: string): Template {
  try {
    const t = new Template(readFileSync(path, 'utf8'));
    t.check(TEMPLATE_SHAPE);
    return t;
  } catch (err) {
    if (err instanceof TemplateError) throw new FlagError('template', `${path} ${err.message}`);
    throw new FlagError('template', `cannot read "${path}": ${(err as Error).message}`);
  }
}

/** The previous output; a missing file counts as empty (the first run of a render-and-diff loop). */
function readPrevious(path: string): { text: string; missing: boolean } {
  try {
    return { text: readFileSync(path, 'utf8'), missing: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', missing: true };
    throw new FlagError('diff', `cannot read "${path}": ${(err as Error).message}`);
  }
}

/** HAProxy reloading at the wrong moment must never see half a file. */
function writeAtomically(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

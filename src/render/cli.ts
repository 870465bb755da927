// `haproxy-node-agent render`: clusters → HAProxy configuration, once. Flags in, text out; the
// work is in source.ts (read), model.ts (choose), haproxy.ts (write), ../haproxy/check.ts and diff.ts.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  bindArgumentsValue,
  claimsConfigMapValue,
  duration,
  port,
  text,
  wholeNumber,
  given,
} from '../platform/flag-values.js';
import { decodeFlags, FlagError, type FlagRow, helpText, parseFlags } from '../platform/flags.js';
import {
  ALLOW_REMOVAL_FLAG,
  ANNOTATION_PREFIX_FLAG,
  HELP_FLAG,
  KUBECONFIG_FLAG,
  MAX_REMOVAL_FRACTION_FLAG,
  REQUEST_TIMEOUT_FLAG,
  TCP_BIND_ADDRESS_FLAG,
  TCP_PORT_RANGE_FLAG,
  withoutEnv,
} from '../platform/shared-flags.js';
import { haproxyCheck } from '../haproxy/check.js';
import { diffServers, formatDiff, serverCounts } from '../edge/config-text.js';
import { judgeRemoval } from '../edge/removal-guard.js';
import { DEFAULT_TEMPLATE, loadTemplateFile, renderHaproxy } from '../edge/output.js';
import { buildModel, type ClusterSnapshot } from '../edge/model.js';
import type { ApiTransport } from '../kube/transport.js';
import { errorMessage } from '../core/error-message.js';
import {
  type ClaimsDocument,
  type ClaimsRef,
  claimsRefText,
  DEFAULT_CLAIMS_REF,
  emptyClaims,
} from '../core/claims-document.js';
import { claimsUpdate } from '../edge/claims.js';

// No environment variables: render runs from an operator's shell or CI, where flags are explicit.
export const RENDER_FLAGS = [
  {
    ...withoutEnv(KUBECONFIG_FLAG),
    help: 'Kubeconfig file (default $KUBECONFIG, then ~/.kube/config, then in-cluster)',
    ...text,
  },
  {
    name: 'context',
    field: 'context',
    default: '',
    help:
      'Contexts to read, comma-separated, one per cluster; ALIAS=CONTEXT names the cluster ALIAS ' +
      '(default: current context)',
    ...text,
  },
  {
    name: 'snapshot',
    field: 'snapshot',
    default: '',
    help: 'Read clusters from this JSON or YAML file instead of the API: {clusters: [{name, nodes, services}]}',
    ...text,
  },
  {
    name: 'nodes-per-service',
    field: 'nodesPerService',
    default: '6',
    help: 'Nodes chosen per Service, spread across zones (all eligible nodes if fewer)',
    ...wholeNumber(1, 1000),
  },
  {
    name: 'agent-port',
    field: 'agentPort',
    default: '9300',
    help: "agent-port of every server: the daemon's port on each node",
    ...port(1),
  },
  {
    name: 'agent-inter',
    field: 'agentInterMs',
    default: '2s',
    help: 'agent-inter of every server: how often HAProxy asks the daemon',
    ...duration({ minMs: 10, maxMs: 3_600_000 }),
  },
  {
    name: 'slowstart',
    field: 'slowstartMs',
    default: '0',
    help: 'slowstart of every server, e.g. 30s (0 = off)',
    ...duration({ allowZero: true, maxMs: 3_600_000 }),
  },
  {
    name: 'shutdown-sessions-on-down',
    field: 'shutdownSessionsOnDown',
    default: '',
    help:
      'Add "on-marked-down shutdown-sessions" to every server: ' +
      "a down answer (e.g. the daemon's --drain-deadline) closes open connections",
    boolean: true,
    ...given,
  },
  {
    ...withoutEnv(ANNOTATION_PREFIX_FLAG),
    help: 'Prefix of the annotations read (Service PREFIX/expose, PREFIX/host, ...; Node PREFIX/state)',
  },
  {
    name: 'bind',
    field: 'bind',
    default: ':80',
    help: "Arguments of the generated frontend's bind line",
    ...bindArgumentsValue,
  },
  withoutEnv(TCP_PORT_RANGE_FLAG),
  withoutEnv(TCP_BIND_ADDRESS_FLAG),
  {
    name: 'template',
    field: 'template',
    default: '',
    help: 'Template file replacing the built-in one (see --print-template)',
    ...text,
  },
  { name: 'print-template', default: '', help: 'Print the built-in template and exit', boolean: true },
  {
    name: 'out',
    field: 'out',
    default: '',
    help: 'Write the result to this file (atomically) instead of stdout',
    ...text,
  },
  {
    name: 'check',
    field: 'check',
    default: '',
    help: 'Run "haproxy -c" on the result first; exit 1 without writing if HAProxy rejects it',
    boolean: true,
    ...given,
  },
  { name: 'haproxy', field: 'haproxy', default: 'haproxy', help: 'HAProxy binary for --check', ...text },
  {
    name: 'diff',
    field: 'diff',
    default: '',
    help: 'Previous output to compare with: prints servers added/removed/changed/unchanged on stderr',
    ...text,
  },
  {
    name: 'claims-configmap',
    field: 'claimsConfigMap',
    default: claimsRefText(DEFAULT_CLAIMS_REF),
    help:
      "ConfigMap NAMESPACE/NAME in the first --context's cluster holding the claims record: who owns each host " +
      'and backend name, since when ("" = no record; with --snapshot, the file\'s claims key)',
    ...claimsConfigMapValue,
  },
  {
    name: 'record-claims',
    field: 'recordClaims',
    default: '',
    help:
      'Write new uncontested claims (and vacated or released ones) to the claims record; ' +
      'needs get, create and update on that ConfigMap',
    boolean: true,
    ...given,
  },
  {
    ...withoutEnv(MAX_REMOVAL_FRACTION_FLAG),
    help:
      'Do not write --out when the result empties a backend of the file there or takes away more than ' +
      'this fraction of its servers (1 = off)',
  },
  {
    ...ALLOW_REMOVAL_FLAG,
    help: 'Write --out even when it empties a backend or takes away many servers at once',
  },
  { ...withoutEnv(REQUEST_TIMEOUT_FLAG), help: 'Deadline for each API list request' },
  HELP_FLAG,
] as const satisfies readonly FlagRow[];

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

/**
 * Runs the subcommand and returns the exit code: 0 done, 1 the API, HAProxy or a file failed, or
 * the removal guard held --out.
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
  const flags = decodeFlags(RENDER_FLAGS, raw);
  const { nodesPerService, agentPort, agentInterMs, slowstartMs, bind, shutdownSessionsOnDown } = flags;
  const settings = {
    nodesPerService,
    agentPort,
    agentInterMs,
    slowstartMs,
    bind,
    shutdownSessionsOnDown,
    tcpBindAddress: flags.tcpBindAddress,
  };
  const { annotationPrefix, requestTimeoutMs } = flags;
  if (flags.snapshot !== '' && (flags.kubeconfig !== '' || flags.context !== '')) {
    throw new FlagError('snapshot', 'reads clusters from the file; drop --kubeconfig and --context');
  }
  if (flags.recordClaims && flags.snapshot !== '')
    throw new FlagError('record-claims', 'writes to a cluster; a --snapshot has none');
  if (flags.recordClaims && flags.claimsConfigMap === undefined)
    throw new FlagError('record-claims', 'needs --claims-configmap');
  const { readClusters, readSnapshotFile } = await import('./source.js');
  const { parseContexts } = await import('../edge/cluster-objects.js');
  const { kubeconfigPath } = await import('../kube/kubeconfig.js');
  const contexts = parseContexts(flags.context);
  const template = flags.template === '' ? undefined : loadTemplateFile(flags.template);
  const previous = flags.diff === '' ? undefined : readPrevious(flags.diff);

  const kubeconfig = flags.snapshot === '' ? kubeconfigPath(flags.kubeconfig, io.env) : undefined;
  if (flags.snapshot === '' && kubeconfig === undefined && io.env.KUBERNETES_SERVICE_HOST === undefined) {
    // From an operator's host, not a Pod: say every place looked at and both ways out.
    throw new FlagError(
      'kubeconfig',
      'not set, KUBECONFIG names no file, there is no ~/.kube/config, and not running in a Pod ' +
        '(KUBERNETES_SERVICE_HOST is unset); pass --kubeconfig FILE or --snapshot FILE',
    );
  }

  let clusters: ClusterSnapshot[];
  let record: ClaimsDocument = emptyClaims();
  // The claims record lives in the first context's cluster (the edge's own), read with its transport.
  let claimsApi: ApiTransport | undefined;
  try {
    if (flags.snapshot !== '') {
      const snapshot = readSnapshotFile(flags.snapshot);
      clusters = snapshot.clusters;
      if (flags.claimsConfigMap !== undefined) record = snapshot.claims;
    } else {
      const read = await readClusters(kubeconfig, contexts, io.env, requestTimeoutMs, annotationPrefix);
      clusters = read;
      claimsApi = read[0]?.api;
    }
  } catch (err) {
    if (err instanceof FlagError) throw err;
    await io.stderr(`render: ${errorMessage(err)}\n`);
    return 1;
  }
  const claimsRef = flags.claimsConfigMap;
  if (claimsApi !== undefined && claimsRef !== undefined) {
    const { loadClaims } = await import('../kube/claims-record.js');
    const state = await loadClaims(claimsApi, claimsRef);
    if (state.status === 'unreadable')
      await io.stderr(
        `render: warning: claims record: ${state.error}; read as empty, so a host several owners claim ` +
          'serves none of them\n',
      );
    record = state.record;
  }

  // The clock dates new claims and starts quarantines; the model itself stays a pure function.
  const now = new Date().toISOString();
  // render serves the TCP ports sync recorded; it never hands one out (edge/tcp-ports.ts).
  const tcp = { range: flags.tcpPortRange, assign: false };
  const model = buildModel(clusters, { annotationPrefix, nodesPerService, claims: { record, now }, tcp });
  for (const line of warningLines(model.warnings)) await io.stderr(line);
  // Without backends and without a warning saying why, the output alone would look like success.
  if (model.backends.length === 0 && model.warnings.length === 0) {
    await io.stderr(
      `render: no Service is exposed; annotate one with ${annotationPrefix}/expose: "true" ` +
        `and ${annotationPrefix}/host (or ${annotationPrefix}/backend)\n`,
    );
  }
  const text = renderHaproxy(model, settings, template);

  if (flags.check) {
    const res = await haproxyCheck(text, flags.haproxy);
    if (!res.ok) {
      await io.stderr(
        `render: haproxy -c rejected the output${flags.out === '' ? '' : `; ${flags.out} left as it was`}:\n` +
          `${res.output}\n`,
      );
      return 1;
    }
  }
  if (previous !== undefined) {
    await io.stderr(
      `render: ${formatDiff(diffServers(previous.text, text))}` +
        `${previous.missing ? ` (${flags.diff} did not exist)` : ''}\n`,
    );
  }
  if (flags.out === '') {
    await io.stdout(text);
  } else {
    if (!flags.allowRemoval) {
      let reason: string | undefined;
      try {
        reason = removalHeld(flags.out, text, flags.maxRemovalFraction);
      } catch (err) {
        await io.stderr(`render: cannot read ${flags.out}: ${(err as Error).message}\n`);
        return 1;
      }
      if (reason !== undefined) {
        await io.stderr(`render: not writing ${flags.out}: ${reason}; pass --allow-removal if that is intended\n`);
        return 1;
      }
    }
    try {
      writeAtomically(flags.out, text);
    } catch (err) {
      await io.stderr(`render: cannot write ${flags.out}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  if (flags.recordClaims && claimsApi !== undefined && claimsRef !== undefined)
    return recordModelClaims(claimsApi, claimsRef, claimsUpdate(model.claims, now), io);
  return 0;
}

/** --record-claims: the one write render makes, after its output; 1 when the record was not written. */
async function recordModelClaims(
  api: ApiTransport,
  ref: ClaimsRef,
  mutate: (current: ClaimsDocument) => ClaimsDocument | undefined,
  io: RenderIO,
): Promise<number> {
  const { recordClaims } = await import('../kube/claims-record.js');
  const where = `ConfigMap ${claimsRefText(ref)}`;
  try {
    const r = await recordClaims(api, ref, mutate);
    if (r.outcome === 'unreadable' || r.outcome === 'conflict') {
      await io.stderr(`render: claims not recorded: ${r.error}\n`);
      return 1;
    }
    const n = r.record.hosts.size + r.record.backends.size;
    await io.stderr(`render: claims record ${where}: ${r.outcome} (${n} claims)\n`);
    return 0;
  } catch (err) {
    await io.stderr(`render: claims not recorded in ${where}: ${errorMessage(err)}\n`);
    return 1;
  }
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

/** The previous output; a missing file counts as empty (the first run of a render-and-diff loop). */
function readPrevious(path: string): { text: string; missing: boolean } {
  try {
    return { text: readFileSync(path, 'utf8'), missing: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', missing: true };
    throw new FlagError('diff', `cannot read "${path}": ${(err as Error).message}`);
  }
}

/**
 * Why writing `text` over the file at `path` is held, or undefined when it may be written (the
 * file is missing: a first write is never held). A file that lost its servers is more often an
 * RBAC mistake, a wrong context or a half-synced list than an intent, and the reload that follows
 * would stop serving what still runs. Throws when the file exists but cannot be read.
 */
function removalHeld(path: string, text: string, maxFraction: number): string | undefined {
  let before: string;
  try {
    before = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const verdict = judgeRemoval(serverCounts(before), serverCounts(text), maxFraction);
  return verdict.held ? verdict.reason : undefined;
}

/** HAProxy reloading at the wrong moment must never see half a file. */
function writeAtomically(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

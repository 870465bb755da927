// Which nodes may carry edge traffic, read from one Node object at a time: a node's eligibility
// never depends on another node, so a long-running caller parses each Node once per change.
import { isIP } from 'node:net';
import { isDnsSubdomain, isLabelValue } from '../core/names.js';
import { arr, obj, str } from '../core/json.js';
import { shown } from '../core/escape.js';
import { signalsKeepNode } from '../core/decide.js';
import { DEFAULT_POLICY } from '../core/policy.js';
import { nodeFromObject } from '../kube/parse.js';

/** render's default --annotation-prefix (render/cli.ts), for callers that read nodes alone. */
const DEFAULT_PREFIX = 'haproxy-node-agent.io';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface EligibleNode {
  name: string;
  zone: string;
  address: string;
}

/**
 * A node that may carry traffic, or undefined (with a warning only when the cause is unexpected).
 * Its signals are the daemon's (kube/parse.ts reads them, core/policy.ts's default rows judge them):
 * a signal whose default action is drain or down keeps it out, `state=ready` keeps it in as it keeps
 * it serving. Where render must differ from the daemon:
 * - it needs a Ready condition that says True: the daemon counts a node without one as ready (its
 *   agent would see a NotReady at once), but a rendered config lasts until the next render;
 * - it has no --signal-policy (the default rows), no mass-drain guard, override file, staleness or
 *   state=drain/maint: those change answers at run time for the servers render wrote, and moving
 *   servers for them would reshuffle the hashed subset twice for a passing state.
 */
export function eligibleNode(
  raw: unknown,
  warn: (msg: string) => void,
  annotationPrefix = DEFAULT_PREFIX,
): EligibleNode | undefined {
  const o = obj(raw);
  const md = obj(o.metadata);
  const name = str(md.name);
  if (name === undefined) return undefined;
  // Node names reach server names, comments and templates: only what Kubernetes itself allows.
  if (!isDnsSubdomain(name)) {
    warn(`node ${shown(name)}: name is not a DNS-1123 subdomain; skipped`);
    return undefined;
  }
  const labels = obj(md.labels);
  const status = obj(o.status);
  const ready = arr(status.conditions).some((c) => obj(c).type === 'Ready' && obj(c).status === 'True');
  if (!ready) return undefined;
  const view = nodeFromObject(raw, annotationPrefix)?.view;
  if (view === undefined || !signalsKeepNode(view, DEFAULT_POLICY)) return undefined;
  const address = nodeAddress(arr(status.addresses));
  if (address === undefined) {
    warn(`node ${name}: Ready but no usable InternalIP, ExternalIP or Hostname address; skipped`);
    return undefined;
  }
  let zone = str(labels[ZONE_LABEL]) ?? '';
  if (!isLabelValue(zone)) {
    warn(`node ${name}: label ${ZONE_LABEL} ${shown(zone)} is not a label value; treated as no zone`);
    zone = '';
  }
  return { name, zone, address };
}

function nodeAddress(addresses: unknown[]): string | undefined {
  for (const type of ['InternalIP', 'ExternalIP', 'Hostname']) {
    for (const a of addresses) {
      const addr = str(obj(a).address);
      if (obj(a).type !== type || addr === undefined) continue;
      if (isIP(addr) !== 0 || (type === 'Hostname' && isDnsSubdomain(addr))) return addr;
    }
  }
  return undefined;
}

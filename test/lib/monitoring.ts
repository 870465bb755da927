// deploy/monitoring read as the tests need it: the alert rules, the dashboard's queries, the metric
// names a PromQL expression uses, and the anchors GitHub gives docs/runbooks.md's headings.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';

export const monitoringDir = join(import.meta.dirname, '..', '..', 'deploy', 'monitoring');
export const rulesFile = join(monitoringDir, 'prometheusrule.yaml');

/** Where every runbook_url points (then #the-alert's-heading). */
export const RUNBOOK_BASE = 'https://github.com/haproxy-node-agent/haproxy-node-agent/blob/main/docs/runbooks.md';

/** The alerts issue 24 names, and the ones an on-call engineer also wants. */
export const ALERTS = [
  'HAProxyNodeAgentDown',
  'HAProxyNodeAgentMetricsAbsent',
  'HAProxyNodeAgentAPIUnreachable',
  'HAProxyNodeAgentKubeProxyUnhealthy',
  'HAProxyNodeAgentOverrideActive',
  'HAProxyNodeAgentDrainHeld',
  'HAProxyNodeAgentCoordinatorStale',
  'HAProxyNodeAgentDrainNotDelivered',
  'HAProxyNodeAgentUnhandledRejections',
  'HAProxyNodeAgentCoordinatorNoLeader',
  'HAProxyNodeAgentCoordinatorTwoLeaders',
  'HAProxyEdgeSyncReloadFailing',
] as const;

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface RuleDoc {
  spec: { groups: Array<{ name: string; rules: AlertRule[] }> };
}

export function ruleGroups(): RuleDoc['spec']['groups'] {
  return (load(readFileSync(rulesFile, 'utf8')) as RuleDoc).spec.groups;
}

export function alertRules(): AlertRule[] {
  return ruleGroups().flatMap((g) => g.rules);
}

interface Panel {
  title?: string;
  type?: string;
  targets?: Array<{ expr?: string; refId?: string }>;
  panels?: Panel[];
}

export function readDashboard(): { panels: Panel[]; templating: { list: Array<Record<string, unknown>> } } {
  return JSON.parse(readFileSync(join(monitoringDir, 'dashboard.json'), 'utf8'));
}

/** Every query of every panel (rows' panels included) and of the template variables. */
export function dashboardExprs(): Array<{ panel: string; expr: string }> {
  const d = readDashboard();
  const out: Array<{ panel: string; expr: string }> = [];
  const walk = (ps: Panel[]): void => {
    for (const p of ps) {
      for (const tg of p.targets ?? []) out.push({ panel: p.title ?? '', expr: tg.expr ?? '' });
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  for (const v of d.templating.list) {
    const q = (v.query as { query?: string } | undefined)?.query;
    // label_values(SELECTOR, label): the selector is the PromQL part.
    const m = typeof q === 'string' ? /^label_values\((.*),\s*\w+\)$/.exec(q) : null;
    if (m?.[1] !== undefined) out.push({ panel: `variable ${String(v.name)}`, expr: m[1] });
  }
  return out;
}

/** Grafana's variables replaced by what "All" and a default resolution give. */
export function grafanaExpand(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$node', '.*');
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects: identifiers once strings, label matchers, ranges
 * and by/without/on/ignoring lists are gone, that are neither a function call nor a keyword.
 */
export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out: string[] = [];
  for (const m of s.matchAll(/(?<![\w.$])[a-zA-Z_:][\w:]*/g)) {
    const rest = s.slice((m.index ?? 0) + m[0].length).trimStart();
    if (rest.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue;
    if (!out.includes(m[0])) out.push(m[0]);
  }
  return out;
}

/** The anchors GitHub makes of a Markdown file's headings: lower case, punctuation dropped, spaces to -. */
export function githubAnchors(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (m?.[1] === undefined) continue;
    out.add(
      m[1]
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    );
  }
  return out;
}

// Shared by the access tests: a seeded fake API behind a TLS front, and the agent's view of it.
import type { Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpGet, metricValue, seedCluster, startAgent, startApi, type AgentProcess } from './agent-process.js';
import { probeUntil } from './probe.js';
import { TlsFront, makePki, type Pki } from './tls-front.js';

export const WEB = 'shop/web\n';
export const READY = 'ready up 100%\n';

export interface ApiBlock {
  state: string;
  since: string;
  resource?: string;
  lastError: string | null;
  detail?: string;
  resources: Record<string, { state: string; lastError: string | null; detail?: string }>;
}

export async function setup(t: Test): Promise<{ admin: string; pki: Pki; front: TlsFront; dir: string }> {
  const { api, kubeconfig } = await startApi(t);
  seedCluster(api);
  const pki = makePki(t);
  const front = new TlsFront(pki, Number(new URL(api.url).port));
  await front.start(t);
  const dir = mkdtempSync(join(tmpdir(), 'hna-access-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { admin: kubeconfig, pki, front, dir };
}

export async function apiStatus(agent: AgentProcess): Promise<ApiBlock> {
  return (JSON.parse((await httpGet(agent.httpPort, '/status')).body) as { api: ApiBlock }).api;
}

export async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await read();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms}ms; last ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await read();
  }
  return last;
}

export const errorLines = (agent: AgentProcess): Array<Record<string, unknown>> =>
  agent.logs.filter((l) => l.level === 'error');

export async function agentFor(t: Test, kubeconfig: string): Promise<AgentProcess> {
  return startAgent(t, ['--node-name', 'n1', '--kubeconfig', kubeconfig]);
}

export async function expectSynced(t: Test, agent: AgentProcess, what: string): Promise<void> {
  t.equal(
    await probeUntil(agent.agentPort, WEB, (r) => r === READY, 15_000),
    READY,
    `${what}: synced through the TLS front`,
  );
  const s = await apiStatus(agent);
  t.equal(s.state, 'ok', `${what}: /status api.state ok ${JSON.stringify(s)} ${JSON.stringify(errorLines(agent))}`);
  t.equal((await httpGet(agent.httpPort, '/readyz')).status, 200, `${what}: ready`);
  const m = (await httpGet(agent.httpPort, '/metrics')).body;
  t.equal(metricValue(m, 'haproxy_node_agent_api_up{resource="nodes"}'), 1, `${what}: api_up`);
}

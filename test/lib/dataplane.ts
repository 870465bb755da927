// Helpers shared by the data-plane tests against the built daemon (test/dataplane-*.test.ts).
import type { Test } from 'tap';
import { httpGet, metricValue, startSyncedAgent, type AgentProcess } from './agent-process.js';
import type { FakeApiServer } from '../../src/testkit/fakeapi/server.js';

export const WEB = 'shop/web\n';
export const DOWN = 'down #kube-proxy unhealthy\n';
/**
 * The default interval: its 800ms poll timeout rides out a loaded machine; a shorter one made
 * timeouts count as failures.
 */
export const INTERVAL = '1s';
/** Generous: the machine is shared; conditions are awaited, never timed. */
export const DEADLINE_MS = 15_000;

export interface DataplaneStatus {
  url: string | null;
  state: string;
  since: string | null;
  lastStatusCode: number | null;
  lastResult: string | null;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
}

export async function dataplane(agent: AgentProcess): Promise<DataplaneStatus> {
  return (JSON.parse((await httpGet(agent.httpPort, '/status')).body) as { dataplane: DataplaneStatus }).dataplane;
}

export async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${DEADLINE_MS}ms; last ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function agentWith(
  t: Test,
  url: string,
  extra: string[] = [],
): Promise<{ agent: AgentProcess; api: FakeApiServer }> {
  const { agent, api } = await startSyncedAgent(t, [
    '--proxy-healthz-url',
    url,
    '--proxy-healthz-interval',
    INTERVAL,
    ...extra,
  ]);
  return { agent, api };
}

export const metric = async (agent: AgentProcess, sample: string): Promise<number | undefined> =>
  metricValue((await httpGet(agent.httpPort, '/metrics')).body, sample);
export const logged = (agent: AgentProcess, re: RegExp): Array<Record<string, unknown>> =>
  agent.logs.filter((l) => typeof l.msg === 'string' && re.test(l.msg));
export const events = (api: FakeApiServer, reason: string) =>
  (
    api.list('events', 'default') as Array<{
      reason?: string;
      type?: string;
      note?: string;
      regarding?: { name?: string };
    }>
  ).filter((e) => e.reason === reason && e.regarding?.name === 'n1');

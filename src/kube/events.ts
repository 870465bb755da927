// Kubernetes Events on our Node when the edge's answer changes class, so `kubectl describe node`
// and `kubectl events` show what HAProxy was told and why. Best effort: a failed post is logged
// and counted, never retried in a loop, never fatal. Rate-limited by a token bucket.
import { randomBytes } from 'node:crypto';
import type { ApiTransport } from './transport.js';

export type AnswerClass = 'ready' | 'drain' | 'maint' | 'down' | 'held' | 'none';

/** Reason per class, as `kubectl get events` shows it. */
export const EVENT_REASONS: Readonly<Record<Exclude<AnswerClass, 'none'>, string>> = {
  ready: 'HAProxyReady',
  drain: 'HAProxyDrain',
  maint: 'HAProxyMaint',
  down: 'HAProxyDown',
  held: 'HAProxyDrainHeld',
};

/** Reasons of the data-plane Events (kube-proxy's health port turned unhealthy or healthy). */
export const DATAPLANE_REASONS = { healthy: 'KubeProxyHealthy', unhealthy: 'KubeProxyUnhealthy' } as const;
/** Posted when every load balancer probing this node has received its drain (see /drained). */
export const DRAIN_DELIVERED_REASON = 'HAProxyDrainDelivered';

/** Burst of events allowed, and one more token per this many ms. */
export const EVENT_BURST = 5;
export const EVENT_REFILL_MS = 60_000;

export interface EventOutcome {
  posted(reason: string): void;
  failed(reason: string, err: unknown): void;
  dropped(reason: string): void;
}

export class NodeEventRecorder {
  private tokens = EVENT_BURST;
  private lastRefill: number;

  constructor(
    private readonly transport: ApiTransport,
    private readonly nodeName: string,
    private readonly namespace: string,
    private readonly outcome: EventOutcome,
    private readonly now: () => number = Date.now,
  ) {
    this.lastRefill = now();
  }

  record(cls: Exclude<AnswerClass, 'none'>, reply: string, why: string): void {
    this.post(
      EVENT_REASONS[cls],
      cls === 'ready' ? 'Normal' : 'Warning',
      'AgentCheckAnswer',
      `edge HAProxy told "${reply}": ${why}`,
    );
  }

  /** kube-proxy's health port changed state (src/run/dataplane/): one Event per transition. */
  recordDataplane(healthy: boolean, note: string): void {
    this.post(
      healthy ? DATAPLANE_REASONS.healthy : DATAPLANE_REASONS.unhealthy,
      healthy ? 'Normal' : 'Warning',
      'DataplaneHealth',
      note,
    );
  }

  /** Every load balancer probing this node has received its drain (see /drained). */
  recordDrainDelivered(note: string): void {
    this.post(DRAIN_DELIVERED_REASON, 'Normal', 'DrainDelivered', note);
  }

  private post(reason: string, type: 'Normal' | 'Warning', action: string, note: string): void {
    if (!this.take()) return this.outcome.dropped(reason);
    const t = new Date(this.now());
    const event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: {
        name: `${this.nodeName}.${t.getTime().toString(16)}${randomBytes(3).toString('hex')}`,
        namespace: this.namespace,
      },
      eventTime: t.toISOString().replace('Z', '000Z'), // MicroTime
      reportingController: 'haproxy-node-agent.io/agent',
      reportingInstance: `haproxy-node-agent-${this.nodeName}`.slice(0, 128),
      action,
      reason,
      type,
      // uid = the node's name, as the kubelet does: `kubectl describe node` asks for exactly that.
      regarding: { apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid: this.nodeName },
      note: note.slice(0, 1024),
    };
    this.transport.postJson(`/apis/events.k8s.io/v1/namespaces/${this.namespace}/events`, event).then(
      () => this.outcome.posted(reason),
      (err: unknown) => this.outcome.failed(reason, err),
    );
  }

  private take(): boolean {
    const now = this.now();
    const refill = Math.floor((now - this.lastRefill) / EVENT_REFILL_MS);
    if (refill > 0) {
      this.tokens = Math.min(EVENT_BURST, this.tokens + refill);
      this.lastRefill += refill * EVENT_REFILL_MS;
    }
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }
}

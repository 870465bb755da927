// The in-memory snapshot: small views updated by the kube adapters, read by the agent and HTTP
// servers. Reply bytes are computed here on change, so answering a probe is one Map lookup.
import { decide, type NodeView, type Reply, type ServiceView } from './decide.js';
import { formatReply, serviceKey } from './reply.js';
import type { AnnotationProblem, Cached } from './kube/views.js';

/** Notified of every change an operator should hear about (logs, metrics). */
export interface StateObserver {
  nodeAnswerChanged(from: Reply | undefined, to: Reply, node: NodeView | undefined): void;
  serviceWeightChanged(key: string, from: number | undefined, to: number | undefined): void;
  annotationProblem(key: string, problem: AnnotationProblem): void;
}

interface ServiceEntry {
  view: ServiceView;
  reply: Reply;
  bytes: Buffer;
  /** Serialised problems, to report each bad annotation once per change, not once per event. */
  problemsKey: string;
}

export class Snapshot {
  private node: NodeView | undefined;
  private nodeSynced = false;
  private servicesSynced = false;
  private readonly services = new Map<string, ServiceEntry>();
  private nodeAnswer: Reply;
  private nodeBytes: Buffer;
  /** Identical replies share one Buffer: thousands of services answer the same few lines. */
  private readonly interned = new Map<string, Buffer>();

  constructor(
    readonly nodeName: string,
    private readonly observer: StateObserver,
  ) {
    this.nodeAnswer = this.decideFor(undefined);
    this.nodeBytes = this.bytes(this.nodeAnswer);
  }

  // ---- probe path: no allocation beyond what the caller does ----

  /** Bytes to write for a probe that names no Service (or one we do not know). */
  nodeReplyBytes(): Buffer {
    return this.nodeBytes;
  }

  /** Bytes for "namespace/name", or undefined when no such Service is known. */
  serviceReplyBytes(key: string): Buffer | undefined {
    return this.services.get(key)?.bytes;
  }

  get synced(): boolean {
    return this.nodeSynced && this.servicesSynced;
  }

  // ---- updates from the kube adapters ----

  markNodeSynced(): void {
    if (this.nodeSynced) return;
    this.nodeSynced = true;
    this.recomputeAll();
  }

  markServicesSynced(): void {
    if (this.servicesSynced) return;
    this.servicesSynced = true;
    this.recomputeAll();
  }

  upsertNode(c: Cached<NodeView>): void {
    if (c.view.name !== this.nodeName) return;
    this.node = c.view;
    this.recomputeAll();
  }

  deleteNode(name: string): void {
    if (name !== this.nodeName || this.node === undefined) return;
    this.node = undefined;
    this.recomputeAll();
  }

  upsertService(c: Cached<ServiceView>): void {
    const key = serviceKey(c.view.namespace, c.view.name);
    const prev = this.services.get(key);
    const problemsKey = c.problems.map((p) => `${p.annotation}=${p.value}`).join('\n');
    if (problemsKey !== '' && problemsKey !== prev?.problemsKey) {
      for (const p of c.problems) this.observer.annotationProblem(key, p);
    }
    const reply = this.decideFor(c.view);
    this.services.set(key, { view: c.view, reply, bytes: this.bytes(reply), problemsKey });
    if (prev?.view.weight !== c.view.weight) this.observer.serviceWeightChanged(key, prev?.view.weight, c.view.weight);
  }

  deleteService(namespace: string, name: string): void {
    const key = serviceKey(namespace, name);
    const prev = this.services.get(key);
    if (prev === undefined) return;
    this.services.delete(key);
    this.observer.serviceWeightChanged(key, prev.view.weight, undefined);
  }

  // ---- reads for /status and metrics ----

  get serviceCount(): number {
    return this.services.size;
  }

  get nodeView(): NodeView | undefined {
    return this.node;
  }

  get nodeReply(): Reply {
    return this.nodeAnswer;
  }

  status(): StatusDocument {
    const services: StatusDocument['services'] = [];
    for (const [key, e] of this.services) {
      services.push({ key, namespace: e.view.namespace, name: e.view.name, weight: e.view.weight, reply: formatReply(e.reply).trimEnd() });
    }
    services.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return {
      node: { name: this.nodeName, known: this.node !== undefined, unschedulable: this.node?.unschedulable ?? null, reply: formatReply(this.nodeAnswer).trimEnd() },
      synced: { node: this.nodeSynced, services: this.servicesSynced },
      services,
    };
  }

  // ---- internals ----

  private decideFor(service: ServiceView | undefined): Reply {
    return decide({ synced: this.synced, node: this.node, service });
  }

  private recomputeAll(): void {
    const prev = this.nodeAnswer;
    this.nodeAnswer = this.decideFor(undefined);
    this.nodeBytes = this.bytes(this.nodeAnswer);
    for (const e of this.services.values()) {
      e.reply = this.decideFor(e.view);
      e.bytes = this.bytes(e.reply);
    }
    if (formatReply(prev) !== formatReply(this.nodeAnswer)) this.observer.nodeAnswerChanged(prev, this.nodeAnswer, this.node);
  }

  private bytes(r: Reply): Buffer {
    const text = formatReply(r);
    let b = this.interned.get(text);
    if (b === undefined) {
      b = Buffer.from(text, 'latin1');
      this.interned.set(text, b);
    }
    return b;
  }
}

export interface StatusDocument {
  node: { name: string; known: boolean; unschedulable: boolean | null; reply: string };
  synced: { node: boolean; services: boolean };
  services: Array<{ key: string; namespace: string; name: string; weight: number; reply: string }>;
}
